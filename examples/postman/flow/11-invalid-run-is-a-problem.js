// A bad body is a 422 RFC 9457 problem naming the field, never a 500.
pm.test("422", () => pm.response.to.have.status(422));
pm.test("application/problem+json", () =>
  pm.expect(pm.response.headers.get("Content-Type")).to.include("application/problem+json"));
const problem = pm.response.json();
pm.test("the problem names total_timesteps", () => {
  pm.expect(problem.status).to.eql(422);
  pm.expect(JSON.stringify(problem.errors)).to.include("total_timesteps");
});
