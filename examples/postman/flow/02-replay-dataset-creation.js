// The same POST with the same Idempotency-Key: the first result again, not a second dataset.
pm.test("replayed: 201 or 202", () => pm.expect(pm.response.code).to.be.oneOf([201, 202]));
pm.test("same dataset as the first request", () =>
  pm.expect(pm.response.json().id).to.eql(pm.collectionVariables.get("datasetId")));
