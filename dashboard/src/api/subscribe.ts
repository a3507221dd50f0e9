// Live process updates over the broker's `/pubsub` websocket.
//
// A `subscribeprocessmsg` is answered with one frame holding the process once
// it reaches the wanted state (at once if it already has; a final state,
// successful or failed, answers a subscription for either). The broker serves
// one subscription per connection at a time, so each watch opens its own
// socket and closes it after the answer.
import type { Client } from "./client";
import { decodeReply } from "./client";
import { envelope } from "./client";
import type { Process } from "./types";

export interface Watch {
  close(): void;
}

export interface WatchHandlers {
  /** The process reached the wanted state. */
  onProcess(p: Process): void;
  /** The socket ended without an answer (timeout, error, server restart). */
  onEnd(reason: "timeout" | "error"): void;
}

/** Watches one process until it reaches `state`; see the module comment. */
export function watchProcess(client: Client, processid: string, state: number, timeoutSec: number, h: WatchHandlers): Watch {
  let done = false;
  let socket: WebSocket;
  try {
    socket = new WebSocket(client.pubsubUrl());
  } catch {
    queueMicrotask(() => h.onEnd("error"));
    return { close() {} };
  }
  const finish = () => {
    done = true;
    try {
      socket.close();
    } catch {
      // Already closed.
    }
  };
  socket.onopen = () => {
    socket.send(
      envelope(client.key, {
        msgtype: "subscribeprocessmsg",
        processid,
        executortype: "",
        state,
        timeout: timeoutSec,
        colonyname: client.colony,
      }),
    );
  };
  socket.onmessage = (event) => {
    if (done) return;
    try {
      const p = decodeReply<Process>(String(event.data));
      finish();
      h.onProcess(p);
    } catch {
      finish();
      h.onEnd("error");
    }
  };
  socket.onerror = () => {
    if (done) return;
    finish();
    h.onEnd("error");
  };
  const started = Date.now();
  socket.onclose = () => {
    if (done) return;
    done = true;
    // The broker closes the socket when the subscription's time is up; a close
    // much earlier means something is wrong (a proxy, a restart).
    h.onEnd(Date.now() - started >= timeoutSec * 1000 - 2000 ? "timeout" : "error");
  };
  return {
    close() {
      if (!done) finish();
    },
  };
}
