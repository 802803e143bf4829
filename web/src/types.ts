// The API's read models, as far as the pages use them (see each service's OpenAPI document).
/* eslint-disable @typescript-eslint/no-explicit-any */
export type Json = Record<string, any>;

export interface Job {
  id: string;
  kind: string;
  status: string;
  progress: number;
  message: string | null;
  attempts: number;
  max_attempts: number;
  worker: string | null;
  cancel_requested: boolean;
  error: string | null;
  result: Json | null;
  resource_type: string | null;
  resource_id: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  parent_id?: string | null;
  reports?: Json[] | null;
}

export interface Dataset {
  id: string;
  name: string;
  source: string;
  status: string;
  symbols: string[];
  timeframe: string;
  start: string | null;
  end: string | null;
  rows: number | null;
  checksum: string | null;
  meta: Json;
  error: string | null;
  job_id: string | null;
  created_at: string;
}

export interface Bar {
  symbol: string;
  t: string;
  open: number;
  high: number;
  low: number;
  close: number;
  adj_close: number;
  volume: number;
}

export interface Run {
  id: string;
  status: string;
  progress: number;
  timesteps: number;
  total_timesteps: number;
  dataset_id: string;
  algorithm: string;
  seed: number;
  spec: Json;
  live: Json;
  metrics: Json;
  resumed_from: number | null;
  model_id: string | null;
  job_id: string | null;
  study_id: string | null;
  trial_number: number | null;
  error: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

export interface Model {
  id: string;
  algorithm: string;
  dataset_id: string;
  run_id: string;
  params: Json;
  seed: number;
  checksum: string;
  size: number;
  stage: string;
  aliases: string[];
  metrics: Json;
  lineage: Json;
  study_id: string | null;
  created_at: string;
  history?: Json[];
}

export interface Evaluation {
  id: string;
  status: string;
  progress?: number;
  model_id?: string | null;
  model_ids?: string[] | null;
  dataset_id: string;
  job_id?: string | null;
  error?: string | null;
  created_at: string;
  [field: string]: any;
}

/** `GET /api/v1/system/status`: readiness of every service, queue depths and workers. */
export interface SystemStatus {
  served_by: string;
  checked_at: string;
  services: Array<{
    name: string;
    status: "ready" | "degraded" | "not ready" | "unreachable";
    checks: Record<string, { ok: boolean; ms?: number; error?: string }>;
    ms: number | null;
    error: string | null;
  }>;
  queues: Array<{ name: string; depth: number | null; workers: string[] }>;
  workers: Array<{ name: string; queues: string[] }>;
  errors: Record<string, string>;
}
