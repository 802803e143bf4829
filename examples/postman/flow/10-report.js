// GET /api/v1/evaluations/{id}/report: the self-contained HTML report.
pm.test("200 HTML", () => {
  pm.response.to.have.status(200);
  pm.expect(pm.response.headers.get("Content-Type")).to.include("text/html");
});
pm.test("the report is a document", () => pm.expect(pm.response.text()).to.match(/<html/i));
