// POST /api/v1/evaluations: the model out of sample (test split), 202 with the evaluation queued.
pm.test("202 Accepted", () => pm.response.to.have.status(202));
const evaluation = pm.response.json();
pm.test("the evaluation is queued for our model", () => {
  pm.expect(evaluation.id).to.be.a("string").and.not.empty;
  pm.expect(evaluation.status).to.be.oneOf(["queued", "running", "succeeded"]);
});
pm.collectionVariables.set("evaluationId", evaluation.id);
