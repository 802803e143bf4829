import { useMutation, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useParams } from "react-router";
import { get, post, qs } from "../api";
import { useCanWrite } from "../auth";
import { CandleChart } from "../charts";
import { fmtCell, fmtNum, fmtPct, fmtTime, KeyValues, Loading, Records, ProblemView, Section, Status } from "../components";
import type { Bar, Dataset, Json } from "../types";

export default function DatasetDetail() {
  const { id } = useParams();
  const canWrite = useCanWrite();
  const dataset = useQuery({
    queryKey: ["dataset", id],
    queryFn: () => get<Dataset>(`/datasets/${id}`),
    refetchInterval: (q) => (q.state.data && ["queued", "running"].includes(q.state.data.status) ? 1500 : false),
  });
  const d = dataset.data;
  const [symbol, setSymbol] = useState<string>("");
  const sym = symbol || d?.symbols[0] || "";
  const ready = d?.status === "ready";
  const bars = useQuery({
    queryKey: ["bars", id, sym],
    enabled: ready && !!sym,
    queryFn: () => get<{ items: Bar[]; total: number }>(`/datasets/${id}/bars${qs({ symbol: sym, limit: 100000 })}`),
  });
  const summary = useQuery({ queryKey: ["summary", id], enabled: ready, queryFn: () => get<Json>(`/datasets/${id}/summary`) });
  const preview = useMutation({ mutationFn: () => post<Json>(`/datasets/${id}/features/preview`, { limit: 10, symbol: sym || undefined }) });

  if (dataset.error) return <ProblemView error={dataset.error} />;
  if (!d) return <Loading what="dataset" />;
  return (
    <>
      <h1>
        Dataset {d.name} <Status value={d.status} />
      </h1>
      <p className="muted">
        <code>{d.id}</code> · {d.source} · {d.timeframe} · {d.rows ?? "?"} rows · {d.start?.slice(0, 10)} → {d.end?.slice(0, 10)} ·{" "}
        created {fmtTime(d.created_at)} · <Link to={`/runs?dataset_id=${d.id}`}>runs on it</Link>
        {canWrite && ready ? (
          <>
            {" "}
            · <Link to={`/runs?new=1&dataset_id=${d.id}`}>Train on it</Link>
          </>
        ) : null}
      </p>
      {d.error ? <div role="alert" className="problem">{d.error}</div> : null}
      {d.symbols.length > 1 ? (
        <label>
          symbol{" "}
          <select value={sym} onChange={(e) => setSymbol(e.target.value)}>
            {d.symbols.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
      ) : null}
      {ready ? (
        <>
          <Section title={`${sym} candles and volume`}>
            <ProblemView error={bars.error} />
            {bars.data ? <CandleChart bars={bars.data.items} label={`${sym} daily candles and volume`} /> : <Loading what="bars" />}
          </Section>
          <Section title="Summary">
            <ProblemView error={summary.error} />
            {summary.data ? <Summary data={summary.data} /> : <Loading what="summary" />}
          </Section>
          <Section
            title="Feature preview"
            actions={
              canWrite ? (
                <button type="button" onClick={() => preview.mutate()} disabled={preview.isPending}>
                  {preview.isPending ? "Computing…" : "Preview default features"}
                </button>
              ) : null
            }
          >
            {!canWrite ? <p className="muted">Computing features needs a key with the write scope.</p> : null}
            <ProblemView error={preview.error} />
            {preview.data ? <Rows data={preview.data} /> : null}
          </Section>
          {Object.keys(d.meta ?? {}).length ? (
            <Section title="Metadata">
              <KeyValues data={d.meta} />
            </Section>
          ) : null}
        </>
      ) : null}
    </>
  );
}

function Summary({ data }: { data: Json }) {
  const per: Json = data.symbols ?? data;
  const rows = Array.isArray(per) ? per : Object.entries(per).map(([symbol, v]) => ({ symbol, ...(v as Json) }));
  return (
    <div className="scroll" tabIndex={0}>
      {rows.map((r: Json) => (
        <div key={String(r.symbol)}>
          <h3>{String(r.symbol ?? "")}</h3>
          <dl className="kv">
            {Object.entries(r)
              .filter(([k]) => k !== "symbol")
              .map(([k, v]) => (
                <div key={k}>
                  <dt>{k}</dt>
                  <dd>
                    {typeof v === "number" && /return|drawdown|volatility/.test(k) && !/date|at$/.test(k)
                      ? fmtPct(v)
                      : typeof v === "number"
                        ? fmtNum(v)
                        : Array.isArray(v)
                          ? `${v.length} item(s)${v.length ? `: ${v.slice(0, 5).map(fmtCell).join(", ")}${v.length > 5 ? ", …" : ""}` : ""}`
                          : fmtCell(v)}
                  </dd>
                </div>
              ))}
          </dl>
        </div>
      ))}
    </div>
  );
}

/** A rows preview: `{columns, rows}` or `{items: [...]}` or a list of records. */
function Rows({ data }: { data: Json }) {
  const records: Json[] = Array.isArray(data)
    ? data
    : Array.isArray(data.rows) && Array.isArray(data.columns)
      ? data.rows.map((r: unknown[]) => Object.fromEntries(data.columns.map((c: string, i: number) => [c, r[i]])))
      : Array.isArray(data.rows)
        ? data.rows
        : Array.isArray(data.items)
          ? data.items
          : [];
  return <Records rows={records} />;
}
