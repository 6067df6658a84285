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
  byId("message-text").textContent = text;
  byId("message").hidden = !text;
}
byId("message-close").addEventListener("click", () => showMessage(""));

const DOING = {
  intro: "Introduction",
  announce: "Listen",
  prepare: "Get into position",
  hold: "Hold",
  rest: "Rest",
  transition: "Change over",
  outro: "Finishing",
};

function heading(status) {
  if (!status.step) return status.step_title;
  const parts = [`Step ${status.step} of ${status.steps}`, status.step_title];
  if (status.side) parts.push(`${status.side} side`);
  if (status.rounds) parts.push(`round ${status.round} of ${status.rounds}`);
  return parts.join(" · ");
}

// -- the session's steps: a list to see where it is and to jump ----------------------------

let stepsOf = null; // the routine whose steps are listed

async function refreshSteps(status) {
  stepsOf = status.routine;
  let answer;
  try {
    const response = await fetch("/api/steps", { credentials: "same-origin" });
    if (!response.ok) throw new Error(String(response.status));
    answer = await response.json();
  } catch (error) {
    stepsOf = null; // tried again with the next status
    return;
  }
  const list = byId("steps");
  list.replaceChildren();
  for (const step of answer.steps) {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "step-button";
    button.dataset.step = String(step.step);
    button.dataset.start = String(step.start);
    button.dataset.end = String(step.end);
    const number = document.createElement("span");
    number.className = "number";
    number.textContent = `${step.step}.`;
    const title = document.createElement("span");
    title.className = "title";
    title.textContent = step.title;
    const length = document.createElement("span");
    length.className = "time";
    length.textContent = clock(step.end - step.start);
    button.append(number, " ", title, " ", length);
    item.append(button);
    list.append(item);
  }
  markStep(lastStatus);
}

function markStep(status) {
  if (!status) return;
  for (const button of byId("steps").querySelectorAll("button")) {
    const number = Number(button.dataset.step);
    const current = number === status.step;
    if (current) {
      if (button.getAttribute("aria-current") !== "step") {
        button.setAttribute("aria-current", "step");
        button.scrollIntoView({ block: "nearest" });
      }
    } else {
      button.removeAttribute("aria-current");
    }
    button.classList.toggle("done", status.step > number || status.state === "finished");
  }
}

// -- where you stopped: offered only when the service can go on with it ---------------------

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
  const idle = !["playing", "paused"].includes(document.body.dataset.state);
  button.hidden = !last || !idle;
  if (!last) return;
  byId("resume-title").textContent = last.title;
  byId("resume-where").textContent = last.step ? `step ${last.step} of ${last.steps}` : "from the start";
}

// -- the status -------------------------------------------------------------------------

let lastStatus = null;

function show(status) {
  const previous = lastStatus;
  lastStatus = status;
  const active = status.state === "playing" || status.state === "paused";
  const shown = active || status.state === "finished";
  document.body.dataset.state = status.state;
  if (!previous || previous.state !== status.state) refreshResume();
  if (shown && (stepsOf !== status.routine || !previous || previous.state === "idle")) refreshSteps(status);

  byId("player").hidden = !shown;
  byId("library").hidden = shown;
  if (!shown) hideConfirm();
  if (status.state === "idle" && status.error) showMessage("Stopped: " + status.error);

  byId("routine").textContent = status.title || "Nothing playing";
  // a hold that lasts until Next is pressed: the time shown is the most it lasts
  const waits = status.until === "press";
  const doing = DOING[status.phase] || status.phase;
  byId("doing").textContent = status.state === "finished" ? "Finished" : waits ? `${doing} until you press Next` : doing;
  byId("left-word").textContent = waits ? "at most" : "left";
  byId("step").textContent = status.state === "finished" ? "Session complete" : heading(status);
  byId("left").textContent = clock(status.left);
  byId("next").textContent = active && status.next ? `Next: ${status.next}` : "";
  const progress = byId("progress");
  progress.max = status.duration || 1;
  progress.value = status.state === "finished" ? progress.max : Math.min(status.position, progress.max);
  byId("position").textContent = clock(status.state === "finished" ? status.duration : status.position);
  byId("duration").textContent = clock(status.duration);
  markStep(status);

  const toggle = byId("toggle");
  const paused = status.state === "paused";
  toggle.dataset.action = paused ? "resume" : "pause";
  toggle.textContent = paused ? "Resume" : "Pause";
  for (const id of ["toggle", "previous", "next-step"]) byId(id).disabled = !active;
  byId("stop").textContent = status.state === "finished" ? "Close" : "Stop";
  for (const button of byId("steps").querySelectorAll("button")) button.disabled = !active;
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

// -- stop: set apart, and asked again --------------------------------------------------------

function hideConfirm() {
  byId("stop-confirm").hidden = true;
  byId("stop").hidden = false;
}

byId("stop").addEventListener("click", () => {
  if (lastStatus && lastStatus.state === "finished") {
    post("/api/stop");
    return;
  }
  byId("stop").hidden = true;
  byId("stop-confirm").hidden = false;
  byId("stop-no").focus();
});
byId("stop-no").addEventListener("click", () => {
  hideConfirm();
  byId("stop").focus();
});
byId("stop-yes").addEventListener("click", () => {
  hideConfirm();
  post("/api/stop");
});

document.addEventListener("click", (event) => {
  const button = event.target.closest("button");
  if (!button || button.disabled) return;
  if (button.dataset.routine) post("/api/play", { routine: button.dataset.routine });
  else if (button.dataset.step) post("/api/step", { step: Number(button.dataset.step) });
  else if ("today" in button.dataset) post("/api/today");
  else if (button.dataset.action) post(`/api/${button.dataset.action}`);
});

byId("volume").addEventListener("input", (event) => {
  byId("volume-value").textContent = `${Math.round(event.target.value * 100)}%`;
});
byId("volume").addEventListener("change", (event) => {
  post("/api/volume", { volume: Number(event.target.value) });
});

// -- finding a routine: the words typed and the chips pressed ---------------------------------

function chosen(kind) {
  return [...document.querySelectorAll(`.chip[data-${kind}][aria-pressed="true"]`)].map((chip) => chip.dataset[kind]);
}

function filter() {
  const words = byId("search").value.trim().toLocaleLowerCase().split(/\s+/).filter(Boolean);
  const areas = chosen("area");
  const tools = chosen("tool");
  let count = 0;
  const items = document.querySelectorAll("#routines .item");
  for (const item of items) {
    const has = (list, wanted) => !wanted.length || JSON.parse(list).some((name) => wanted.includes(name));
    const match =
      words.every((word) => item.dataset.words.includes(word)) &&
      has(item.dataset.areas, areas) &&
      has(item.dataset.tools, tools);
    item.hidden = !match;
    if (match) count += 1;
  }
  byId("found").textContent =
    count === items.length ? `${count} routines` : count ? `${count} of ${items.length} routines` : "No routine matches: clear the search or a chip.";
}

for (const chip of document.querySelectorAll(".chip")) {
  chip.addEventListener("click", () => {
    chip.setAttribute("aria-pressed", chip.getAttribute("aria-pressed") === "true" ? "false" : "true");
    filter();
  });
}
byId("search").addEventListener("input", filter);

// -- the connection: said at once when it goes, tried again until it is back -----------------

let events = null;
let retry = null;
let delay = 2000;

function connection(state) {
  const was = document.body.dataset.connection;
  document.body.dataset.connection = state;
  const banner = byId("connection");
  if (state === "lost") {
    banner.textContent = "No connection. Trying again…";
    banner.hidden = false;
  } else if (state === "open" && was === "lost") {
    banner.textContent = "Connected again.";
    banner.hidden = false;
    setTimeout(() => {
      if (document.body.dataset.connection === "open") banner.hidden = true;
    }, 3000);
  } else if (state === "open") {
    banner.hidden = true;
  }
}

async function whyClosed() {
  // the stream was refused, not cut: a stale pairing is said as such
  try {
    const response = await fetch("/api/status", { credentials: "same-origin" });
    if (response.status === 401) showMessage("This phone is no longer paired: run holdcue pair on the Pi and open its link here.");
  } catch (error) {
    // the service is away: the banner says so
  }
}

function listen() {
  clearTimeout(retry);
  events = new EventSource("/api/events");
  events.onmessage = (event) => {
    if (document.body.dataset.connection !== "open") {
      connection("open");
      delay = 2000;
      if (lastStatus) refreshResume();
      stepsOf = null; // the service may have been restarted: its session's steps asked again
    }
    show(JSON.parse(event.data));
  };
  events.onerror = () => {
    connection("lost");
    if (events.readyState === EventSource.CLOSED) {
      whyClosed();
      retry = setTimeout(listen, delay);
      delay = Math.min(delay * 2, 15000);
    }
  };
}

// the phone itself knows when it leaves the network: said at once, tried again when it is back
window.addEventListener("offline", () => connection("lost"));
window.addEventListener("online", () => {
  if (events) events.close();
  delay = 2000;
  listen();
});

listen();
