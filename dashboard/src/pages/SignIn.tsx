import { useState } from "preact/hooks";
import { Client } from "../api/client";
import { PrivateKey } from "../api/crypto";
import { ErrorBox, Spinner } from "../components/ui";
import { Logo } from "../components/Layout";
import { useDocumentTitle } from "../hooks";
import { location, navigate } from "../router";
import { signIn } from "../session";

/** Checks the owner key against the colony's id (read with the member key). */
export async function verifyOwner(client: Client, ownerHex: string): Promise<PrivateKey> {
  const owner = PrivateKey.fromHex(ownerHex);
  const colony = await client.getColony();
  if (colony.colonyid !== owner.id) {
    throw new Error(`this key's id ${owner.id.slice(0, 12)}… is not the owner of colony ${client.colony}`);
  }
  return owner;
}

export function SignIn() {
  useDocumentTitle("Sign in");
  const [colony, setColony] = useState("dev");
  const [key, setKey] = useState("");
  const [showKey, setShowKey] = useState(false);
  const [ownerKey, setOwnerKey] = useState("");
  const [withOwner, setWithOwner] = useState(false);
  const [remember, setRemember] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);

  let derived: string | null = null;
  let keyProblem: string | null = null;
  if (key.trim()) {
    try {
      derived = PrivateKey.fromHex(key).id;
    } catch (e) {
      keyProblem = (e as Error).message;
    }
  }

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    if (!colony.trim()) return setError(new Error("enter the colony name"));
    let k: PrivateKey;
    try {
      k = PrivateKey.fromHex(key);
    } catch (err) {
      return setError(err as Error);
    }
    setBusy(true);
    try {
      const client = new Client(k, colony.trim());
      await client.colonyStats();
      if (withOwner && ownerKey.trim()) await verifyOwner(client, ownerKey);
      signIn(colony.trim(), key, withOwner && ownerKey.trim() ? ownerKey : null, remember);
      const next = location.value.query.get("next");
      navigate(next && next.startsWith("/") && !next.startsWith("//") ? next : "/", true);
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="signin-page">
      <form class="signin-card" onSubmit={submit} data-testid="signin-form">
        <div class="signin-brand">
          <Logo />
          <div>
            <div class="signin-title">petri</div>
            <div class="muted">Sign in to a colony</div>
          </div>
        </div>
        <label class="field">
          <span>Colony</span>
          <input name="colony" value={colony} onInput={(e) => setColony(e.currentTarget.value)} autoComplete="off" spellcheck={false} />
        </label>
        <label class="field">
          <span>Private key</span>
          <div class="input-row">
            <input
              name="prvkey"
              type={showKey ? "text" : "password"}
              value={key}
              onInput={(e) => setKey(e.currentTarget.value)}
              placeholder="64 hexadecimal characters"
              autoComplete="off"
              spellcheck={false}
              class="mono-input"
            />
            <button type="button" class="btn btn-ghost btn-small" onClick={() => setShowKey(!showKey)}>
              {showKey ? "Hide" : "Show"}
            </button>
          </div>
          <span class="hint">
            {keyProblem ? (
              <span class="text-red">{keyProblem}</span>
            ) : derived ? (
              <>
                Signs as <code>{derived.slice(0, 16)}…</code>
              </>
            ) : (
              <>The key of a colony member (an executor or a user). With <code>petri dev</code>, it is <code>COLONIES_PRVKEY</code>.</>
            )}
          </span>
        </label>
        <label class="check">
          <input type="checkbox" checked={withOwner} onChange={(e) => setWithOwner(e.currentTarget.checked)} />
          <span>I also own this colony (to approve, reject and remove executors)</span>
        </label>
        {withOwner && (
          <label class="field">
            <span>Colony owner key</span>
            <input
              name="ownerkey"
              type="password"
              value={ownerKey}
              onInput={(e) => setOwnerKey(e.currentTarget.value)}
              placeholder="COLONIES_COLONY_PRVKEY"
              autoComplete="off"
              spellcheck={false}
              class="mono-input"
            />
          </label>
        )}
        <label class="check">
          <input type="checkbox" checked={remember} onChange={(e) => setRemember(e.currentTarget.checked)} />
          <span>Remember me on this device</span>
        </label>
        {error && <ErrorBox error={error} compact />}
        <button class="btn btn-primary btn-block" type="submit" disabled={busy}>
          {busy ? (
            <>
              <Spinner /> Signing in…
            </>
          ) : (
            "Sign in"
          )}
        </button>
        <p class="signin-note">
          Your keys stay in this browser. Each request is signed here, so the dashboard can do only what your key may do.
        </p>
      </form>
    </div>
  );
}
