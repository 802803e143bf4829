// GET /api/v1/models/{id}: the model's lineage points back at the run and the dataset.
pm.test("200", () => pm.response.to.have.status(200));
const model = pm.response.json();
pm.test("lineage: run, dataset, algorithm", () => {
  pm.expect(model.id).to.eql(pm.collectionVariables.get("modelId"));
  pm.expect(model.run_id).to.eql(pm.collectionVariables.get("runId"));
  pm.expect(model.dataset_id).to.eql(pm.collectionVariables.get("datasetId"));
  pm.expect(model.algorithm).to.eql("ppo");
});
