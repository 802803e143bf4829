import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import { get, post, request, type Page } from "../api";
import { useCanWrite } from "../auth";
import { DataTable, fmtNum, fmtPct, fmtTime, IdLink, ListTable, Loading, ProblemView, Section, Status } from "../components";
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
    mutationFn: () => post<Json>("/strategies/halt-all", { reason: "pressed in the dashboard" }),
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
            <DataTable
              rows={strategies.data.items}
              rowKey={(s) => s.id}
              rowId={(s) => s.id}
              columns={[
                { header: "name", cell: (s) => s.name ?? <code>{String(s.id).slice(0, 8)}</code> },
                { header: "model", cell: (s) => <IdLink to="/models" id={s.model_id} /> },
                { header: "symbols", cell: (s) => (s.symbols ?? []).join(", ") },
                { header: "state", cell: (s) => <Status value={s.state} /> },
                {
                  header: "risk limits",
                  className: "wrap",
                  cell: (s) =>
                    Object.entries(s.risk ?? {})
                      .filter(([, v]) => v != null)
                      .map(([k, v]) => `${k} ${Array.isArray(v) ? v.join(" ") : v}`)
                      .join(" · "),
                },
                { header: "created", cell: (s) => fmtTime(s.created_at) },
                canWrite && {
                  header: "actions",
                  className: "actions",
                  cell: (s) => (
                    <>
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
                    </>
                  ),
                },
              ]}
            />
          </>
        ) : null}
      </Section>
      <Section title="Paper sessions">
        <ListTable
          query={sessions}
          what="paper sessions"
          empty="No paper session yet."
          rowKey={(p) => p.id}
          columns={[
            {
              header: "session",
              cell: (p) => (
                <Link to={`/paper-sessions/${p.id}`}>
                  <code>{String(p.id).slice(0, 8)}</code>
                </Link>
              ),
            },
            { header: "mode", cell: (p) => p.mode },
            { header: "strategy", cell: (p) => String(p.strategy_id).slice(0, 8) },
            { header: "status", cell: (p) => <Status value={p.status} /> },
            { header: "equity", cell: (p) => fmtNum(p.equity, 2) },
            { header: "PnL", cell: (p) => fmtNum(p.pnl, 2) },
            { header: "drawdown", cell: (p) => fmtPct(p.drawdown) },
            { header: "position", cell: (p) => (p.position ?? []).map((v: number) => fmtNum(v, 3)).join(", ") },
            { header: "bars / orders", cell: (p) => `${p.n_bars} / ${p.n_orders}` },
            { header: "halt", className: "wrap", cell: (p) => p.halt_reason ?? "" },
            { header: "created", cell: (p) => fmtTime(p.created_at) },
          ]}
        />
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
