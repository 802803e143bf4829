// GET /api/v1/evaluations/{id} until the backtest ends (this request repeats itself meanwhile).
pm.test("200", () => pm.response.to.have.status(200));
const evaluation = pm.response.json();
const polls = Number(pm.collectionVariables.get("polls") || 0);
if (["queued", "running", "waiting"].includes(evaluation.status)
    && polls < Number(pm.variables.get("maxPolls"))) {
  pm.collectionVariables.set("polls", polls + 1);
  pm.execution.setNextRequest(pm.info.requestName);
} else {
  pm.collectionVariables.set("polls", 0);
  pm.test("evaluation succeeded", () =>
    pm.expect(evaluation.status, JSON.stringify(evaluation.error)).to.eql("succeeded"));
  pm.test("metrics with a Sharpe ratio and its confidence interval", () => {
    pm.expect(evaluation.metrics).to.have.property("sharpe");
    pm.expect(evaluation.metrics).to.have.property("max_drawdown");
    pm.expect(evaluation.sharpe_ci).to.be.an("array").with.lengthOf(2);
  });
  pm.test("buy-and-hold on the same bars", () =>
    pm.expect(evaluation.benchmarks).to.have.property("buy_and_hold"));
}
