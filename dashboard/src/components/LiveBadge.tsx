import type { LiveMode } from "../live";

const TEXT: Record<LiveMode, [string, string]> = {
  connecting: ["Connecting", "Loading the current state"],
  live: ["Live", "Updates arrive over the websocket as states change"],
  polling: ["Polling", "The websocket is unavailable; refreshing every few seconds instead"],
  done: ["Finished", "Nothing left to watch: every process has finished"],
};

export function LiveBadge({ mode }: { mode: LiveMode }) {
  const [text, title] = TEXT[mode];
  return (
    <span class={`live live-${mode}`} title={title} data-testid="live-mode" data-mode={mode}>
      <span class="live-dot" />
      {text}
    </span>
  );
}
