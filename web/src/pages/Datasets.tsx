import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useRef, useState, type DragEvent, type FormEvent } from "react";
import { Link, useNavigate } from "react-router";
import { get, qs, request, type Page } from "../api";
import { useCanWrite } from "../auth";
import { fmtTime, ListTable, ProblemView, Section, Status } from "../components";
import type { Dataset } from "../types";

export default function Datasets() {
  const canWrite = useCanWrite();
  const [status, setStatus] = useState("");
  const list = useQuery({
    queryKey: ["datasets", status],
    queryFn: () => get<Page<Dataset>>(`/datasets${qs({ limit: 100, status })}`),
    refetchInterval: (q) => (q.state.data?.items.some((d) => d.status === "queued" || d.status === "running") ? 2000 : false),
  });
  return (
    <>
      <h1>Datasets</h1>
      {canWrite ? <Upload /> : null}
      <Section
        title="All datasets"
        actions={
          <label>
            status{" "}
            <select value={status} onChange={(e) => setStatus(e.target.value)}>
              <option value="">any</option>
              {["queued", "running", "ready", "failed", "canceled"].map((s) => (
                <option key={s}>{s}</option>
              ))}
            </select>
          </label>
        }
      >
        <ListTable
          query={list}
          what="datasets"
          empty={`No dataset yet${canWrite ? ": upload a CSV above." : "."}`}
          rowKey={(d) => d.id}
          columns={[
            { header: "name", cell: (d) => <Link to={`/datasets/${d.id}`}>{d.name}</Link> },
            { header: "symbols", cell: (d) => d.symbols.join(", ") },
            { header: "source", cell: (d) => d.source },
            { header: "status", cell: (d) => <Status value={d.status} /> },
            { header: "rows", cell: (d) => d.rows ?? "–" },
            { header: "from", cell: (d) => d.start?.slice(0, 10) ?? "–" },
            { header: "to", cell: (d) => d.end?.slice(0, 10) ?? "–" },
            { header: "created", cell: (d) => fmtTime(d.created_at) },
          ]}
        />
      </Section>
    </>
  );
}

const REPAIRS = ["sort", "drop_duplicates", "ffill"];

function Upload() {
  const client = useQueryClient();
  const navigate = useNavigate();
  const input = useRef<HTMLInputElement>(null);
  const [file, setFile] = useState<File | null>(null);
  const [symbol, setSymbol] = useState("");
  const [name, setName] = useState("");
  const [repairs, setRepairs] = useState<string[]>([]);
  const [over, setOver] = useState(false);
  const upload = useMutation({
    mutationFn: async () => {
      const form = new FormData();
      form.append("file", file!);
      if (symbol.trim()) form.append("symbol", symbol.trim());
      if (name.trim()) form.append("name", name.trim());
      for (const r of repairs) form.append("repair", r);
      return request<Dataset>("/datasets", { method: "POST", form });
    },
    onSuccess: (d) => {
      void client.invalidateQueries({ queryKey: ["datasets"] });
      navigate(`/datasets/${d.id}`);
    },
  });
  const sample = useMutation({
    mutationFn: (sym: string) =>
      request<Dataset>("/datasets", { method: "POST", body: { source: "sample", symbol: sym } }),
    onSuccess: (d) => {
      void client.invalidateQueries({ queryKey: ["datasets"] });
      navigate(`/datasets/${d.id}`);
    },
  });

  function drop(e: DragEvent) {
    e.preventDefault();
    setOver(false);
    const f = e.dataTransfer.files?.[0];
    if (f) choose(f);
  }
  function choose(f: File) {
    setFile(f);
    upload.reset();
    // The file name is the usual symbol (SPY.csv); the field stays editable before the upload.
    const guess = f.name.replace(/\.(csv|parquet|gz)$/gi, "").split(/[^A-Za-z0-9.^-]/)[0];
    setSymbol(guess ? guess.toUpperCase() : "");
  }
  function submit(e: FormEvent) {
    e.preventDefault();
    if (file) upload.mutate();
  }

  return (
    <Section title="Upload bars">
      <form onSubmit={submit} className="upload">
        <div
          className={`dropzone${over ? " over" : ""}`}
          onDragOver={(e) => {
            e.preventDefault();
            setOver(true);
          }}
          onDragLeave={() => setOver(false)}
          onDrop={drop}
          onClick={() => input.current?.click()}
          onKeyDown={(e) => (e.key === "Enter" || e.key === " ") && input.current?.click()}
          role="button"
          tabIndex={0}
          aria-label="Drop a CSV or Parquet file here, or press to choose one"
        >
          {file ? (
            <span>
              <strong>{file.name}</strong> ({(file.size / 1024).toFixed(1)} KB)
            </span>
          ) : (
            <span>Drop a CSV or Parquet file of OHLCV bars here, or click to choose one.</span>
          )}
        </div>
        <input
          ref={input}
          type="file"
          accept=".csv,.parquet,text/csv"
          hidden
          data-testid="file-input"
          onChange={(e) => e.target.files?.[0] && choose(e.target.files[0])}
        />
        <div className="row">
          <label>
            symbol <input value={symbol} onChange={(e) => setSymbol(e.target.value)} placeholder="from the file" />
          </label>
          <label>
            name <input value={name} onChange={(e) => setName(e.target.value)} placeholder="optional" />
          </label>
          <fieldset className="inline">
            <legend>repairs</legend>
            {REPAIRS.map((r) => (
              <label key={r}>
                <input
                  type="checkbox"
                  checked={repairs.includes(r)}
                  onChange={(e) => setRepairs(e.target.checked ? [...repairs, r] : repairs.filter((x) => x !== r))}
                />{" "}
                {r}
              </label>
            ))}
          </fieldset>
          <button type="submit" disabled={!file || upload.isPending}>
            {upload.isPending ? "Uploading…" : "Upload"}
          </button>
          <span className="muted">or the bundled sample:</span>
          {["SPY", "TLT", "GLD"].map((s) => (
            <button key={s} type="button" className="secondary" disabled={sample.isPending} onClick={() => sample.mutate(s)}>
              {s}
            </button>
          ))}
        </div>
      </form>
      <ProblemView error={upload.error ?? sample.error} />
    </Section>
  );
}
