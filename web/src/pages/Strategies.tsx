import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import { get, post, request, type Page } from "../api";
import { useCanWrite } from "../auth";
import { fmtNum, fmtPct, fmtTime, IdLink, Loading, ProblemView, Section, Status } from "../components";
import type { Dataset, Json, Model } from "../types";

export default function Strategies() {
  const canWrite = useCanWrite();
  const client = useQueryClient();
  const navigate = useNavigate();
  const strategies = useQuery({ queryKey: ["strategies"], queryFn: () => get<Page<Json>>("/strategies?limit=100") });
  const sessions = useQuery({
    queryKey: ["paper-sessions"],
    queryFn: () => get<Page<Json>>("/paper-sessions?limit=100"),
    refetchInterval: (q) => (q.state.data?.items.some((s) => ["queued", "running"].includes(s.status)) ? 2000 : 10_000),
  });
  const datasets = useQuery({ queryKey: ["datasets", "ready"], enabled: canWrite, queryFn: () => get<Page<Dataset>>("/datasets?status=ready&limit=100") });
  const [replayDataset, setReplayDataset] = useState("");
  const [replaySpeed, setReplaySpeed] = useState("");
  const setState = useMutation({
    mutationFn: ({ id, state }: { id: string; state: string }) => request<Json>(`/strategies/${id}`, { method: "PATCH", body: { state } }),
    onSuccess: () => client.invalidateQueries({ queryKey: ["strategies"] }),
  });
  const halt = useMutation({
    mutationFn: () => post<Json>("/strategies/halt-all", { reason: "kill switch (dashboard)" }),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["strategies"] });
      void client.invalidateQueries({ queryKey: ["paper-sessions"] });
    },
  });
  const replay = useMutation({
    // A replay runs over a dataset's test split: the chosen one, else the model's own; as fast
    // as possible, or at the chosen bars per second (to watch it live).
    mutationFn: async (strategy: Json) => {
      const datasetId = replayDataset || (await get<Model>(`/models/${strategy.model_id}`)).dataset_id;
      return post<Json>("/paper-sessions", { strategy_id: strategy.id, mode: "replay", dataset_id: datasetId, split: "test", speed: replaySpeed ? Number(replaySpeed) : "max" });
    },
    onSuccess: (s) => navigate(`/paper-sessions/${s.id}`),
  });
  return (
    <>
      <h1>Strategies and paper trading</h1>
      {canWrite ? <NewStrategy /> : null}
      <Section
        title="Strategies"
        actions={
          canWrite ? (
            <button
              type="button"
              className="danger"
              onClick={() => window.confirm("Halt every strategy and stop every paper session?") && halt.mutate()}
            >
              Kill switch: halt all
            </button>
          ) : null
        }
      >
        <ProblemView error={strategies.error ?? setState.error ?? halt.error ?? replay.error} />
        {halt.data ? <p role="status">Halted: {JSON.stringify(halt.data.halted)}</p> : null}
        {strategies.isLoading ? <Loading what="strategies" /> : null}
        {strategies.data && strategies.data.items.length === 0 ? <p>No strategy (make one from an evaluated model).</p> : null}
        {strategies.data && strategies.data.items.length ? (
          <>
            {canWrite ? (
              <p>
                <label>
                  replay on dataset{" "}
                  <select value={replayDataset} onChange={(e) => setReplayDataset(e.target.value)}>
                    <option value="">the model's own</option>
                    {datasets.data?.items.map((d) => (
                      <option key={d.id} value={d.id}>
                        {d.name}
                      </option>
                    ))}
                  </select>
                </label>{" "}
                <label>
                  replay speed (bars/s, empty: as fast as possible){" "}
                  <input type="number" min={0} step="any" value={replaySpeed} onChange={(e) => setReplaySpeed(e.target.value)} />
                </label>
              </p>
            ) : null}
            <table>
              <thead>
                <tr>
                  <th scope="col">name</th>
                  <th scope="col">model</th>
                  <th scope="col">symbols</th>
                  <th scope="col">state</th>
                  <th scope="col">risk limits</th>
                  <th scope="col">created</th>
                  {canWrite ? <th scope="col">actions</th> : null}
                </tr>
              </thead>
              <tbody>
                {strategies.data.items.map((s) => (
                  <tr key={s.id} id={s.id}>
                    <td>{s.name ?? <code>{String(s.id).slice(0, 8)}</code>}</td>
                    <td>
                      <IdLink to="/models" id={s.model_id} />
                    </td>
                    <td>{(s.symbols ?? []).join(", ")}</td>
                    <td>
                      <Status value={s.state} />
                    </td>
                    <td className="wrap">
                      {Object.entries(s.risk ?? {})
                        .filter(([, v]) => v != null)
                        .map(([k, v]) => `${k} ${Array.isArray(v) ? v.join(" ") : v}`)
                        .join(" · ")}
                    </td>
                    <td>{fmtTime(s.created_at)}</td>
                    {canWrite ? (
                      <td className="actions">
                        {s.state !== "active" ? (
                          <button type="button" className="small" onClick={() => setState.mutate({ id: s.id, state: "active" })}>
                            Activate
                          </button>
                        ) : (
                          <button type="button" className="small secondary" onClick={() => setState.mutate({ id: s.id, state: "paused" })}>
                            Pause
                          </button>
                        )}
                        {s.state !== "stopped" ? (
                          <button type="button" className="small danger" onClick={() => setState.mutate({ id: s.id, state: "stopped" })}>
                            Stop
                          </button>
                        ) : null}
                        <button type="button" className="small" onClick={() => replay.mutate(s)} disabled={s.state !== "active"}>
                          Paper replay
                        </button>
                      </td>
                    ) : null}
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        ) : null}
      </Section>
      <Section title="Paper sessions">
        <ProblemView error={sessions.error} />
        {sessions.data && sessions.data.items.length === 0 ? <p>No paper session yet.</p> : null}
        {sessions.data && sessions.data.items.length ? (
          <table>
            <thead>
              <tr>
                <th scope="col">session</th>
                <th scope="col">mode</th>
                <th scope="col">strategy</th>
                <th scope="col">status</th>
                <th scope="col">equity</th>
                <th scope="col">PnL</th>
                <th scope="col">drawdown</th>
                <th scope="col">position</th>
                <th scope="col">bars / orders</th>
                <th scope="col">halt</th>
                <th scope="col">created</th>
              </tr>
            </thead>
            <tbody>
              {sessions.data.items.map((p) => (
                <tr key={p.id}>
                  <td>
                    <Link to={`/paper-sessions/${p.id}`}>
                      <code>{String(p.id).slice(0, 8)}</code>
                    </Link>
                  </td>
                  <td>{p.mode}</td>
                  <td>{String(p.strategy_id).slice(0, 8)}</td>
                  <td>
                    <Status value={p.status} />
                  </td>
                  <td>{fmtNum(p.equity, 2)}</td>
                  <td>{fmtNum(p.pnl, 2)}</td>
                  <td>{fmtPct(p.drawdown)}</td>
                  <td>{(p.position ?? []).map((v: number) => fmtNum(v, 3)).join(", ")}</td>
                  <td>
                    {p.n_bars} / {p.n_orders}
                  </td>
                  <td className="wrap">{p.halt_reason ?? ""}</td>
                  <td>{fmtTime(p.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : null}
      </Section>
    </>
  );
}

function NewStrategy() {
  const client = useQueryClient();
  // `/strategies?model=<id>` (an evaluated model's "Promote to a strategy") opens the form on it.
  const [params] = useSearchParams();
  const promoted = params.get("model") ?? "";
  const [open, setOpen] = useState(!!promoted);
  const models = useQuery({ queryKey: ["models", "all"], enabled: open, queryFn: () => get<Page<Model>>("/models?limit=100") });
  const [modelId, setModelId] = useState(promoted);
  const [name, setName] = useState("");
  const [maxDrawdown, setMaxDrawdown] = useState("0.2");
  const [maxPosition, setMaxPosition] = useState("1");
  const [created, setCreated] = useState("");
  const create = useMutation({
    mutationFn: () =>
      post<Json>("/strategies", {
        model_id: modelId,
        ...(name ? { name } : {}),
        risk: { max_drawdown: Number(maxDrawdown), max_position: Number(maxPosition) },
      }),
    onSuccess: (created) => {
      setOpen(false);
      setCreated(String(created.name ?? created.id));
      void client.invalidateQueries({ queryKey: ["strategies"] });
    },
  });
  function submit(e: FormEvent) {
    e.preventDefault();
    create.mutate();
  }
  if (!open)
    return (
      <p>
        <button type="button" onClick={() => setOpen(true)}>
          New strategy
        </button>
        {created ? <span role="status"> Strategy {created} created (active).</span> : null}
      </p>
    );
  return (
    <Section title="New strategy" actions={<button type="button" className="link" onClick={() => setOpen(false)}>Close</button>}>
      <form onSubmit={submit} className="form-grid" aria-label="New strategy">
        <label>
          model
          <select value={modelId} onChange={(e) => setModelId(e.target.value)} required>
            <option value="">choose…</option>
            {promoted && models.data && !models.data.items.some((m) => m.id === promoted) ? <option value={promoted}>{promoted.slice(0, 8)}</option> : null}
            {models.data?.items.map((m) => (
              <option key={m.id} value={m.id}>
                {m.id.slice(0, 8)} {m.algorithm} {m.stage} {m.aliases.join(",")}
              </option>
            ))}
          </select>
        </label>
        <label>
          name
          <input value={name} onChange={(e) => setName(e.target.value)} placeholder="optional" />
        </label>
        <label>
          max drawdown
          <input type="number" step="any" min={0} value={maxDrawdown} onChange={(e) => setMaxDrawdown(e.target.value)} />
        </label>
        <label>
          max position
          <input type="number" step="any" min={0} value={maxPosition} onChange={(e) => setMaxPosition(e.target.value)} />
        </label>
        <div className="full">
          <button type="submit" disabled={!modelId || create.isPending}>
            Create strategy
          </button>
        </div>
      </form>
      <ProblemView error={create.error ?? models.error} />
    </Section>
  );
}
