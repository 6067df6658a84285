// The phone remote: buttons post to the API; the status comes live from /api/events.
// Data from the server is only ever placed with textContent, never as HTML.
"use strict";

const byId = (id) => document.getElementById(id);

function clock(seconds) {
  const whole = Math.max(0, Math.floor(seconds));
  const minutes = Math.floor(whole / 60);
  const secs = String(whole % 60).padStart(2, "0");
  return `${minutes}:${secs}`;
}

function showMessage(text) {
  const message = byId("message");
  message.textContent = text;
  message.hidden = !text;
}

function heading(status) {
  if (!status.step) return status.step_title;
  const parts = [`Step ${status.step} of ${status.steps}`, status.step_title];
  if (status.side) parts.push(`${status.side} side`);
  if (status.rounds) parts.push(`round ${status.round} of ${status.rounds}`);
  return parts.join(" · ");
}

const DOING = {
  intro: "introduction",
  announce: "listen",
  prepare: "get into position",
  hold: "hold",
  rest: "rest",
  transition: "change over",
  outro: "finishing",
};

// The last stopped or interrupted session, offered while nothing is under way
// (POST /api/resume-last goes on with it, as `holdcue resume` does).
async function refreshResume() {
  const button = byId("resume-last");
  let history;
  try {
    const response = await fetch("/api/history", { credentials: "same-origin" });
    if (!response.ok) throw new Error(String(response.status));
    history = await response.json();
  } catch (error) {
    button.hidden = true;
    return;
  }
  const last = history.resume;
  const idle = document.body.dataset.state !== "playing" && document.body.dataset.state !== "paused";
  button.hidden = !last || !idle;
  if (!last) return;
  const where = last.step ? `step ${last.step} of ${last.steps}` : "the start";
  byId("resume-title").textContent = last.title;
  byId("resume-where").textContent = where;
  button.setAttribute("aria-label", `Resume ${last.title} at ${where}`);
}

let lastState = null;

function show(status) {
  const active = status.state === "playing" || status.state === "paused";
  if (status.state !== lastState) {
    lastState = status.state;
    document.body.dataset.state = status.state;
    refreshResume();
  }
  document.body.dataset.state = status.state;
  byId("routine").textContent =
    status.state === "idle" ? (status.error ? "Stopped: " + status.error : "Nothing playing")
      : status.state === "finished" ? `${status.title}: finished`
        : status.state === "paused" ? `${status.title} (paused)` : status.title;
  byId("step").textContent = active ? heading(status) : "";
  const waits = status.until === "press" ? ` until you press Next · at most ${clock(status.left)}` : "";
  byId("doing").textContent = !active ? ""
    : waits ? `${DOING[status.phase] || status.phase}${waits}` : `${DOING[status.phase] || status.phase} · ${clock(status.left)} left`;
  byId("next").textContent = active && status.next ? `Next: ${status.next}` : "";
  byId("progress").textContent = active || status.state === "finished"
    ? `${clock(status.position)} / ${clock(status.duration)}` : "";
  const toggle = byId("toggle");
  const paused = status.state === "paused";
  toggle.dataset.action = paused ? "resume" : "pause";
  toggle.setAttribute("aria-label", paused ? "Resume" : "Pause");
  toggle.textContent = paused ? "Resume" : "Pause";
  for (const id of ["toggle", "previous", "next-step"]) byId(id).disabled = !active;
  byId("stop").disabled = status.state === "idle";
  const volume = byId("volume");
  if (document.activeElement !== volume) volume.value = status.volume;
  byId("volume-value").textContent = `${Math.round(status.volume * 100)}%`;
}

async function post(path, body) {
  let response;
  try {
    response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body || {}),
      credentials: "same-origin",
    });
  } catch (error) {
    showMessage("The speaker cannot be reached. Is holdcue serve running?");
    return;
  }
  let data = {};
  try {
    data = await response.json();
  } catch (error) {
    data = {};
  }
  if (!response.ok) {
    showMessage(data.error || `The request failed (${response.status}).`);
    return;
  }
  showMessage("");
  show(data);
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button");
  if (!button || button.disabled) return;
  if (button.dataset.routine) post("/api/play", { routine: button.dataset.routine });
  else if ("today" in button.dataset) post("/api/today");
  else if (button.dataset.action) post(`/api/${button.dataset.action}`);
});

byId("volume").addEventListener("input", (event) => {
  byId("volume-value").textContent = `${Math.round(event.target.value * 100)}%`;
});
byId("volume").addEventListener("change", (event) => {
  post("/api/volume", { volume: Number(event.target.value) });
});

function listen() {
  const events = new EventSource("/api/events");
  events.onmessage = (event) => show(JSON.parse(event.data));
  events.onopen = () => showMessage("");
  events.onerror = () => {
    if (events.readyState === EventSource.CLOSED) {
      showMessage("Lost the connection to the speaker; reload the page.");
    }
  };
}

listen();
