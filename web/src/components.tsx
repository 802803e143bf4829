import { Component, useEffect, useRef, useState, type ErrorInfo, type ReactNode } from "react";
import { Link } from "react-router";
import { ApiError } from "./api";
import type { Json } from "./types";

/** An API error as the API said it: title, detail, and each field/row error. Never swallowed. */
export function ProblemView({ error }: { error: unknown }) {
  if (!error) return null;
  if (!(error instanceof ApiError)) {
    return (
      <div role="alert" className="problem">
        <strong>Error</strong>: {String((error as Error)?.message ?? error)}
      </div>
    );
  }
  const p = error.problem;
  const errors = Array.isArray(p.errors) ? p.errors : [];
  const columns = Array.from(new Set(errors.flatMap((e) => Object.keys(e))));
  return (
    <div role="alert" className="problem">
      <strong>
        {p.status} {p.title}
      </strong>
      {p.detail ? <>: {p.detail}</> : null}
      {typeof p.total === "number" ? <p>{String(p.total)} problem(s) in total.</p> : null}
      {p.counts && typeof p.counts === "object" ? (
        <p>
          {Object.entries(p.counts as Record<string, number>)
            .map(([k, v]) => `${k}: ${v}`)
            .join(" · ")}
        </p>
      ) : null}
      {errors.length > 0 ? (
        <div className="scroll" tabIndex={0}>
          <table className="errors" aria-label="Errors">
            <thead>
              <tr>
                {columns.map((c) => (
                  <th key={c} scope="col">
                    {c}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {errors.map((e, i) => (
                <tr key={i}>
                  {columns.map((c) => (
                    <td key={c}>{c === "loc" && Array.isArray(e[c]) ? (e[c] as unknown[]).join(".") : fmtCell(e[c])}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {p.request_id ? <small> request id {p.request_id}</small> : null}
    </div>
  );
}

export function fmtCell(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (Array.isArray(v)) return v.map(fmtCell).join(", ");
  if (typeof v === "number") return fmtNum(v);
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

export function fmtNum(v: number | null | undefined, digits = 4): string {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (typeof v !== "number") return fmtCell(v); // (a field the page took for a number is not one)
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(2);
  return v.toFixed(digits).replace(/\.?0+$/, "");
}

export function fmtPct(v: number | null | undefined): string {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (typeof v !== "number") return fmtCell(v);
  return `${(v * 100).toFixed(2)}%`;
}

export function fmtTime(v: string | null | undefined): string {
  if (!v) return "–";
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? v : d.toISOString().replace("T", " ").slice(0, 19);
}

export function shortId(id: string | null | undefined): string {
  return id ? id.slice(0, 8) : "–";
}

export function Status({ value }: { value: string | null | undefined }) {
  return <span className={`status status-${(value ?? "unknown").replace(/\s+/g, "-")}`}>{value ?? "–"}</span>;
}

export function Progress({ value, label }: { value: number; label: string }) {
  const pct = Math.max(0, Math.min(1, value || 0)) * 100;
  return (
    <div className="progress">
      <progress max={100} value={pct} aria-label={label} />
      <span>{pct.toFixed(0)}%</span>
    </div>
  );
}

export function IdLink({ to, id }: { to: string; id: string | null | undefined }) {
  if (!id) return <>–</>;
  return (
    <Link to={`${to}/${id}`} title={id}>
      <code>{shortId(id)}</code>
    </Link>
  );
}

export function Section({ title, children, actions }: { title: string; children: ReactNode; actions?: ReactNode }) {
  return (
    <section className="card">
      <div className="card-head">
        <h2>{title}</h2>
        {actions}
      </div>
      {children}
    </section>
  );
}

export function Loading({ what }: { what: string }) {
  return <p className="loading">Loading {what}…</p>;
}

/** Key/value list of a flat object. */
export function KeyValues({ data }: { data: Record<string, unknown> }) {
  return (
    <dl className="kv">
      {Object.entries(data).map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{fmtCell(v)}</dd>
        </div>
      ))}
    </dl>
  );
}

export interface StreamEvent {
  event: string;
  data: unknown;
}

/** Subscribes to an SSE stream (the session cookie authenticates EventSource) while `enabled`. */
export function useEventStream(
  url: string | null,
  onEvent: (e: StreamEvent) => void,
  enabled = true,
): "connecting" | "open" | "closed" {
  const [state, setState] = useState<"connecting" | "open" | "closed">("closed");
  const handler = useRef(onEvent);
  handler.current = onEvent;
  useEffect(() => {
    if (!url || !enabled) return;
    const source = new EventSource(url, { withCredentials: true });
    setState("connecting");
    source.onopen = () => setState("open");
    const deliver = (ev: MessageEvent) => {
      let data: unknown = ev.data;
      try {
        data = JSON.parse(ev.data);
      } catch {
        /* plain text */
      }
      handler.current({ event: ev.type, data });
    };
    // The services' streams send `job` events (the job record on every change).
    for (const name of ["job", "message"]) {
      source.addEventListener(name, deliver as EventListener);
    }
    source.onerror = () => {
      // The server closes the stream when the job ends; do not reconnect forever.
      if (source.readyState === EventSource.CLOSED) setState("closed");
      else {
        source.close();
        setState("closed");
      }
    };
    return () => {
      source.close();
      setState("closed");
    };
  }, [url, enabled]);
  return state;
}

/** A page that throws while rendering shows the error (and the others keep working), not a
 * blank screen. */
export class PageBoundary extends Component<{ children: ReactNode }, { error: Error | null }> {
  state = { error: null as Error | null };
  static getDerivedStateFromError(error: Error) {
    return { error };
  }
  componentDidCatch(error: Error, info: ErrorInfo) {
    console.error("page failed to render", error, info.componentStack);
  }
  render() {
    if (this.state.error) {
      return (
        <div role="alert" className="problem">
          <strong>This page failed to render</strong>: {this.state.error.message}
        </div>
      );
    }
    return this.props.children;
  }
}

/** Rows of records as a table (the union of their keys as columns; times as the API's ISO strings). */
export function Records({ rows }: { rows: Json[] }) {
  if (!rows.length) return <p>None.</p>;
  const cols = Array.from(new Set(rows.flatMap((r) => Object.keys(r))));
  return (
    <div className="scroll" tabIndex={0}>
      <table className="dense">
        <thead>
          <tr>
            {cols.map((c) => (
              <th key={c} scope="col">
                {c}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((r, i) => (
            <tr key={i}>
              {cols.map((c) => (
                <td key={c}>{fmtRecordCell(c, r[c])}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Times come as ISO 8601 UTC strings (the API's one format); others as numbers/text. */
function fmtRecordCell(column: string, v: unknown): string {
  if (typeof v === "string" && /(^t$|time$|_at$)/.test(column)) return fmtTime(v);
  return typeof v === "number" ? fmtNum(v, 4) : fmtCell(v);
}

/** One column of a {@link DataTable}: its header and how a row's cell is drawn. */
export interface Column<T> {
  header: string;
  cell: (row: T) => ReactNode;
  className?: string;
  /** A header only screen readers read (e.g. an actions column). */
  hiddenHeader?: boolean;
}

export interface DataTableProps<T> {
  /** Columns; `false`/`null` entries are left out (e.g. write-only actions for a read key). */
  columns: Array<Column<T> | false | null>;
  rows: T[];
  rowKey: (row: T) => string | number;
  /** The table's accessible name. */
  label?: string;
  className?: string;
  rowId?: (row: T) => string | undefined;
}

/** A table of rows, one column per {@link Column}: the list pages' and details' tables. */
export function DataTable<T>({ columns, rows, rowKey, label, className, rowId }: DataTableProps<T>) {
  const cols = columns.filter((c): c is Column<T> => !!c);
  return (
    <table aria-label={label} className={className}>
      <thead>
        <tr>
          {cols.map((c) => (
            <th key={c.header} scope="col">
              {c.hiddenHeader ? <span className="sr-only">{c.header}</span> : c.header}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={rowKey(r)} id={rowId?.(r)}>
            {cols.map((c) => (
              <td key={c.header} className={c.className}>
                {c.cell(r)}
              </td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A list query (a page of `items`) drawn with its states: its error, "Loading…", `empty`
 * when it has no row, else the table. */
export function ListTable<T>({
  query,
  what,
  empty,
  ...table
}: Omit<DataTableProps<T>, "rows"> & {
  query: { data?: { items: T[] }; error: unknown; isLoading: boolean };
  what: string;
  empty: ReactNode;
}) {
  const items = query.data?.items;
  return (
    <>
      <ProblemView error={query.error} />
      {query.isLoading ? <Loading what={what} /> : null}
      {items && items.length === 0 ? <p>{empty}</p> : null}
      {items && items.length ? <DataTable rows={items} {...table} /> : null}
    </>
  );
}
