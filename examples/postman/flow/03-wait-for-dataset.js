// GET /api/v1/datasets/{id} until the ingest job ends (this request repeats itself meanwhile).
pm.test("200", () => pm.response.to.have.status(200));
const dataset = pm.response.json();
const polls = Number(pm.collectionVariables.get("polls") || 0);
if (["queued", "running"].includes(dataset.status) && polls < Number(pm.variables.get("maxPolls"))) {
  pm.collectionVariables.set("polls", polls + 1);
  pm.execution.setNextRequest(pm.info.requestName);
} else {
  pm.collectionVariables.set("polls", 0);
  pm.test("dataset is ready", () => pm.expect(dataset.status).to.eql("ready"));
  pm.test("bars, range and checksum are recorded", () => {
    pm.expect(dataset.rows).to.be.above(1000);
    pm.expect(dataset.start).to.be.a("string");
    pm.expect(dataset.end).to.be.a("string");
    pm.expect(dataset.checksum).to.be.a("string").and.not.empty;
  });
}
