// A signed Colonies RPC client for the browser. Every request is signed with
// the key the user signed in with, so the dashboard can do exactly what that
// key may do and nothing more. The key never leaves the page.
import { base64Decode, base64Encode, PrivateKey } from "./crypto";
import type {
  Colony,
  ColonyFunction,
  ColonyStats,
  Executor,
  LogEntry,
  Process,
  ProcessGraph,
  ProcessState,
} from "./types";

/** The broker refused a request; `message` is its text. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }

  get accessDenied(): boolean {
    return this.status === 403 || /access denied/i.test(this.message);
  }
}

/** The broker could not be reached or answered with something that is not an envelope. */
export class NetworkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NetworkError";
  }
}

interface Reply {
  payloadtype: string;
  payload: string;
  error: boolean;
}

/** Builds the signed envelope for `msg` (which must carry its `msgtype`). */
export function envelope(key: PrivateKey, msg: { msgtype: string } & Record<string, unknown>): string {
  const payload = base64Encode(JSON.stringify(msg));
  return JSON.stringify({ payloadtype: msg.msgtype, payload, signature: key.sign(payload) });
}

/** Decodes a reply envelope, throwing `ApiError` for an error reply. */
export function decodeReply<T>(text: string): T {
  let reply: Reply;
  try {
    reply = JSON.parse(text) as Reply;
  } catch {
    throw new NetworkError("the server's answer is not a Colonies reply");
  }
  let body: unknown = {};
  try {
    body = reply.payload ? JSON.parse(base64Decode(reply.payload)) : {};
  } catch {
    throw new NetworkError("the server's reply payload is not valid JSON");
  }
  if (reply.error) {
    const e = (body ?? {}) as { status?: number; message?: string };
    throw new ApiError(e.status ?? 500, e.message ?? "request failed");
  }
  return body as T;
}

export class Client {
  constructor(
    readonly key: PrivateKey,
    readonly colony: string,
    readonly base: string = "",
  ) {}

  async rpc<T>(msgtype: string, fields: Record<string, unknown> = {}, key: PrivateKey = this.key): Promise<T> {
    const body = envelope(key, { msgtype, ...fields });
    let response: Response;
    try {
      response = await fetch(`${this.base}/api`, { method: "POST", body, headers: { "content-type": "application/json" } });
    } catch {
      throw new NetworkError("cannot reach the petri server");
    }
    const text = await response.text();
    if (!text) {
      throw new NetworkError(`the server answered ${response.status} with an empty body`);
    }
    return decodeReply<T>(text);
  }

  colonyStats(): Promise<ColonyStats> {
    return this.rpc("getcolonystatsmsg", { colonyname: this.colony });
  }

  getColony(): Promise<Colony> {
    return this.rpc("getcolonymsg", { colonyname: this.colony });
  }

  async processes(state: ProcessState, count = 100, filters: { executortype?: string; label?: string } = {}): Promise<Process[]> {
    const list = await this.rpc<Process[] | null>("getprocessesmsg", {
      colonyname: this.colony,
      count,
      state,
      executortype: filters.executortype ?? "",
      label: filters.label ?? "",
      initiator: "",
    });
    return list ?? [];
  }

  process(processid: string): Promise<Process> {
    return this.rpc("getprocessmsg", { processid });
  }

  async graphs(state: ProcessState, count = 100): Promise<ProcessGraph[]> {
    return (await this.rpc<ProcessGraph[] | null>("getprocessgraphsmsg", { colonyname: this.colony, count, state })) ?? [];
  }

  graph(processgraphid: string): Promise<ProcessGraph> {
    return this.rpc("getprocessgraphmsg", { processgraphid });
  }

  async executors(): Promise<Executor[]> {
    return (await this.rpc<Executor[] | null>("getexecutorsmsg", { colonyname: this.colony })) ?? [];
  }

  async functions(): Promise<ColonyFunction[]> {
    return (await this.rpc<ColonyFunction[] | null>("getfunctionsmsg", { colonyname: this.colony, executorname: "" })) ?? [];
  }

  async logs(processid: string, count = 500): Promise<LogEntry[]> {
    const list = await this.rpc<LogEntry[] | null>("getlogsmsg", {
      colonyname: this.colony,
      processid,
      executorname: "",
      count,
      since: 0,
      latest: false,
    });
    return list ?? [];
  }

  /** Approve, reject or remove an executor; needs the colony owner's key. */
  async changeExecutor(action: "approve" | "reject" | "remove", executorname: string, owner: PrivateKey): Promise<void> {
    await this.rpc(`${action}executormsg`, { colonyname: this.colony, executorname }, owner);
  }

  /** The websocket address of `/pubsub` on the same server. */
  pubsubUrl(): string {
    const origin = this.base || window.location.origin;
    return origin.replace(/^http/, "ws") + "/pubsub";
  }
}
