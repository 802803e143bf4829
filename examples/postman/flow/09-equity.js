// GET /api/v1/evaluations/{id}/equity: the equity curve with drawdown and position per bar.
pm.test("200", () => pm.response.to.have.status(200));
const points = pm.response.json();
pm.test("one point per bar with t, equity, drawdown, position", () => {
  pm.expect(points).to.be.an("array").and.not.empty;
  pm.expect(points[0]).to.include.all.keys("t", "equity", "drawdown", "position");
  pm.expect(points[points.length - 1].drawdown).to.be.at.most(0);
});
