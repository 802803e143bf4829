// POST /api/v1/datasets (the SPY sample, a job): 202 with the dataset queued, or 201 when ready.
pm.test("accepted: 201 or 202", () => pm.expect(pm.response.code).to.be.oneOf([201, 202]));
const dataset = pm.response.json();
pm.test("the dataset has an id and the SPY symbol", () => {
  pm.expect(dataset.id).to.be.a("string").and.not.empty;
  pm.expect(dataset.symbols).to.include("SPY");
});
if (pm.response.code === 202) {
  pm.test("Location names the dataset", () =>
    pm.expect(pm.response.headers.get("Location")).to.include(dataset.id));
}
pm.collectionVariables.set("datasetId", dataset.id);
