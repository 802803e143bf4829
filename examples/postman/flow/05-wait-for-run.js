// GET /api/v1/runs/{id} until training ends (this request repeats itself meanwhile).
pm.test("200", () => pm.response.to.have.status(200));
const run = pm.response.json();
const polls = Number(pm.collectionVariables.get("polls") || 0);
if (["queued", "running"].includes(run.status) && polls < Number(pm.variables.get("maxPolls"))) {
  pm.collectionVariables.set("polls", polls + 1);
  pm.execution.setNextRequest(pm.info.requestName);
} else {
  pm.collectionVariables.set("polls", 0);
  pm.test("run succeeded", () => pm.expect(run.status, JSON.stringify(run.error)).to.eql("succeeded"));
  pm.test("progress is complete and a model is registered", () => {
    pm.expect(run.progress).to.eql(1);
    pm.expect(run.model_id).to.be.a("string").and.not.empty;
  });
  pm.collectionVariables.set("modelId", run.model_id);
}
