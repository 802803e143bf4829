import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useSearchParams } from "react-router";
import { get, post, qs, type Page } from "../api";
import { useCanWrite } from "../auth";
import { fmtTime, IdLink, ListTable, Progress, ProblemView, Section, Status } from "../components";
import type { Job } from "../types";
import { resourcePath } from "./Overview";

const STATUSES = ["queued", "running", "waiting", "succeeded", "failed", "canceled"];
const ACTIVE = ["queued", "running", "waiting"];

export default function Jobs() {
  const canWrite = useCanWrite();
  const client = useQueryClient();
  const [params, setParams] = useSearchParams();
  const status = params.get("status") ?? "";
  const kind = params.get("kind") ?? "";
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors[cursors.length - 1];
  const list = useQuery({
    queryKey: ["jobs", "table", status, kind, cursor],
    queryFn: () => get<Page<Job>>(`/jobs${qs({ limit: 50, status, kind, cursor })}`),
    refetchInterval: 3000,
  });
  const cancel = useMutation({
    mutationFn: (id: string) => post<Job>(`/jobs/${id}/cancel`),
    onSuccess: () => client.invalidateQueries({ queryKey: ["jobs"] }),
  });
  function setFilter(name: string, value: string) {
    const next = new URLSearchParams(params);
    if (value) next.set(name, value);
    else next.delete(name);
    setCursors([]);
    setParams(next);
  }
  return (
    <>
      <h1>Jobs</h1>
      <Section
        title="Jobs, newest first"
        actions={
          <span className="filters">
            <label>
              status{" "}
              <select value={status} onChange={(e) => setFilter("status", e.target.value)}>
                <option value="">any</option>
                {STATUSES.map((s) => (
                  <option key={s}>{s}</option>
                ))}
              </select>
            </label>{" "}
            <label>
              kind <input value={kind} onChange={(e) => setFilter("kind", e.target.value)} placeholder="training.train_run" size={20} />
            </label>
          </span>
        }
      >
        <ProblemView error={cancel.error} />
        <ListTable
          query={list}
          what="jobs"
          empty="No job matches."
          rowKey={(j) => j.id}
          columns={[
            { header: "job", cell: (j) => <code title={j.id}>{j.id.slice(0, 8)}</code> },
            { header: "kind", cell: (j) => j.kind },
            {
              header: "status",
              cell: (j) => (
                <>
                  <Status value={j.status} />
                  {j.cancel_requested && ACTIVE.includes(j.status) ? " (cancel requested)" : ""}
                </>
              ),
            },
            { header: "progress", cell: (j) => <Progress value={j.progress} label={`job ${j.id.slice(0, 8)} progress`} /> },
            { header: "message / error", className: "wrap", cell: (j) => j.error ?? j.message ?? "" },
            { header: "attempts", cell: (j) => `${j.attempts}/${j.max_attempts}` },
            { header: "worker", cell: (j) => j.worker ?? "–" },
            { header: "resource", cell: (j) => (resourcePath(j) ? <IdLink to={resourcePath(j)!} id={j.resource_id} /> : (j.resource_type ?? "–")) },
            { header: "created", cell: (j) => fmtTime(j.created_at) },
            canWrite && {
              header: "actions",
              hiddenHeader: true,
              cell: (j) =>
                ACTIVE.includes(j.status) && !j.cancel_requested ? (
                  <button type="button" className="danger small" onClick={() => cancel.mutate(j.id)}>
                    Cancel
                  </button>
                ) : null,
            },
          ]}
        />
        <p className="pager">
          <button type="button" className="secondary" disabled={!cursors.length} onClick={() => setCursors(cursors.slice(0, -1))}>
            Newer
          </button>{" "}
          <button
            type="button"
            className="secondary"
            disabled={!list.data?.next_cursor}
            onClick={() => list.data?.next_cursor && setCursors([...cursors, list.data.next_cursor])}
          >
            Older
          </button>
        </p>
      </Section>
    </>
  );
}
