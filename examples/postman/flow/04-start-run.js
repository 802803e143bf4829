// POST /api/v1/runs: 202 Accepted with the run queued, its job and a Location header.
pm.test("202 Accepted", () => pm.response.to.have.status(202));
const run = pm.response.json();
pm.test("the run is queued with a job", () => {
  pm.expect(run.status).to.be.oneOf(["queued", "running"]);
  pm.expect(run.job_id).to.be.a("string").and.not.empty;
  pm.expect(run.dataset_id).to.eql(pm.collectionVariables.get("datasetId"));
});
pm.test("Location names the run", () =>
  pm.expect(pm.response.headers.get("Location")).to.include(run.id));
pm.collectionVariables.set("runId", run.id);
