// The Colonies JSON objects the dashboard reads (protocol reference §5).

export const WAITING = 0;
export const RUNNING = 1;
export const SUCCESSFUL = 2;
export const FAILED = 3;

export type ProcessState = 0 | 1 | 2 | 3;

export interface Conditions {
  colonyname: string;
  executornames: string[] | null;
  executortype: string;
  locationname?: string;
  dependencies: string[] | null;
  nodes?: number;
  cpu?: string;
  processes?: number;
  processespernode?: number;
  mem?: string;
  storage?: string;
  gpu?: { name: string; mem: string; count: number; nodecount: number };
  walltime?: number;
}

export interface FunctionSpec {
  nodename: string;
  funcname: string;
  args: unknown[] | null;
  kwargs: Record<string, unknown> | null;
  priority: number;
  maxwaittime: number;
  maxexectime: number;
  maxretries: number;
  conditions: Conditions;
  label: string;
  fs?: unknown;
  env: Record<string, string> | null;
  channels?: string[] | null;
}

export interface Attribute {
  attributeid: string;
  targetid: string;
  targetcolonyname: string;
  targetprocessgraphid: string;
  state: number;
  attributetype: number;
  key: string;
  value: string;
}

export interface Process {
  processid: string;
  initiatorid: string;
  initiatorname: string;
  assignedexecutorid: string;
  isassigned: boolean;
  state: ProcessState;
  prioritytime: number;
  submissiontime: string;
  starttime: string;
  endtime: string;
  waitdeadline: string;
  execdeadline: string;
  retries: number;
  attributes: Attribute[] | null;
  spec: FunctionSpec;
  waitforparents?: boolean;
  parents: string[] | null;
  children: string[] | null;
  processgraphid: string;
  in: unknown[] | null;
  out: unknown[] | null;
  errors: string[] | null;
}

export interface ProcessGraph {
  processgraphid: string;
  initiatorid: string;
  initiatorname: string;
  colonyname: string;
  rootprocessids: string[] | null;
  state: ProcessState;
  submissiontime: string;
  starttime: string;
  endtime: string;
  processids: string[] | null;
}

export const EXECUTOR_PENDING = 0;
export const EXECUTOR_APPROVED = 1;
export const EXECUTOR_REJECTED = 2;
export const EXECUTOR_REMOVED = 3;

export interface Executor {
  executorid: string;
  executortype: string;
  executorname: string;
  colonyname: string;
  state: number;
  requirefuncreg?: boolean;
  commissiontime: string;
  lastheardfromtime: string;
  locationname?: string;
}

export interface ColonyFunction {
  functionid: string;
  executorname: string;
  executortype: string;
  colonyname: string;
  funcname: string;
  counter: number;
  minwaittime: number;
  maxwaittime: number;
  minexectime: number;
  maxexectime: number;
  avgwaittime: number;
  avgexectime: number;
}

export interface ColonyStats {
  colonies: number;
  executors: number;
  activeexecutors: number;
  unregisteredexecutors?: number;
  waitingprocesses: number;
  runningprocesses: number;
  successfulprocesses: number;
  failedprocesses: number;
  waitingworkflows: number;
  runningworkflows: number;
  successfulworkflows: number;
  failedworkflows: number;
}

export interface Colony {
  colonyid: string;
  name: string;
}

export interface LogEntry {
  processid: string;
  colonyname: string;
  executorname: string;
  message: string;
  timestamp: number;
}
