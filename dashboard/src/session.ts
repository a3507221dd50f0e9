// Who is signed in. The keys live only in this browser: in sessionStorage
// (gone when the tab closes) unless the user asked to be remembered, then in
// localStorage. They are sent nowhere; requests carry signatures only.
import { signal } from "@preact/signals";
import { Client } from "./api/client";
import { PrivateKey } from "./api/crypto";

const STORAGE_KEY = "petri.session";

interface Stored {
  colony: string;
  key: string;
  ownerKey?: string;
}

export interface Session {
  client: Client;
  colony: string;
  /** The colony owner's key, when the user entered it (needed to manage executors). */
  owner: PrivateKey | null;
  remembered: boolean;
}

function load(): Session | null {
  for (const [storage, remembered] of [
    [window.sessionStorage, false],
    [window.localStorage, true],
  ] as const) {
    try {
      const raw = storage.getItem(STORAGE_KEY);
      if (!raw) continue;
      const s = JSON.parse(raw) as Stored;
      const key = PrivateKey.fromHex(s.key);
      const owner = s.ownerKey ? PrivateKey.fromHex(s.ownerKey) : null;
      return { client: new Client(key, s.colony), colony: s.colony, owner, remembered };
    } catch {
      storage.removeItem(STORAGE_KEY);
    }
  }
  return null;
}

export const session = signal<Session | null>(load());

function store(s: Stored, remember: boolean) {
  const target = remember ? window.localStorage : window.sessionStorage;
  const other = remember ? window.sessionStorage : window.localStorage;
  other.removeItem(STORAGE_KEY);
  target.setItem(STORAGE_KEY, JSON.stringify(s));
}

export function signIn(colony: string, keyHex: string, ownerHex: string | null, remember: boolean): Session {
  const key = PrivateKey.fromHex(keyHex);
  const owner = ownerHex ? PrivateKey.fromHex(ownerHex) : null;
  store({ colony, key: keyHex.trim(), ownerKey: ownerHex?.trim() || undefined }, remember);
  const s = { client: new Client(key, colony), colony, owner, remembered: remember };
  session.value = s;
  return s;
}

/** Keeps (or forgets, with `null`) the colony owner's key for this session. */
export function setOwnerKey(ownerHex: string | null) {
  const s = session.value;
  if (!s) return;
  const owner = ownerHex ? PrivateKey.fromHex(ownerHex) : null;
  const raw = (s.remembered ? window.localStorage : window.sessionStorage).getItem(STORAGE_KEY);
  const stored: Stored = raw ? (JSON.parse(raw) as Stored) : { colony: s.colony, key: "" };
  stored.ownerKey = ownerHex?.trim() || undefined;
  store(stored, s.remembered);
  session.value = { ...s, owner };
}

export function signOut() {
  window.sessionStorage.removeItem(STORAGE_KEY);
  window.localStorage.removeItem(STORAGE_KEY);
  session.value = null;
}
