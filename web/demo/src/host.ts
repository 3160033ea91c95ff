// The host console: run the show. Open and close polls, ask and reveal quiz
// questions, mark questions answered, delete chat messages.

import { DEFAULT_DEPLOYMENT_ROOM, modView, pollMean } from "@ovation/sdk";
import type { Poll, PollKind, PollOpenData, RatingScale, Room, RoomState } from "@ovation/sdk";
import { $, esc, fmt, header, hue, initials, newId, onState, publishing, renderCustom, start, timeAgo, toast } from "./common.js";

const s = start("host");
const app = $("#app");
app.append(header(s, "host console", { href: `/${location.search}`, text: "← Audience view" }));
const main = document.createElement("main");
main.className = "grid host";
main.innerHTML = `
  <section class="col">
    <div class="card stats" id="stats"></div>
    <div class="card" id="custom" data-testid="custom-card" hidden></div>
    <div class="card">
      <div class="card-head"><h2>Polls</h2></div>
      <form id="poll-form" class="stack" autocomplete="off">
        <input name="question" maxlength="300" placeholder="Question, e.g. Which talk did you like most?" aria-label="poll question" data-testid="poll-question" required />
        <textarea name="options" rows="3" placeholder="One option per line (2 to 10; none for rating, text and cloud)" aria-label="poll options" data-testid="poll-options"></textarea>
        <div class="row">
          <label>Kind <select name="kind" data-testid="poll-kind">
            <option value="single">single choice</option><option value="multi">multiple choice</option><option value="ranking">ranking</option>
            <option value="rating">rating</option><option value="text">open text</option><option value="cloud">word cloud</option>
          </select></label>
          <label>Scale <select name="scale" data-testid="poll-scale"><option value="1-5">1–5</option><option value="1-10">1–10</option><option value="nps">NPS 0–10</option></select></label>
          <label>Timer <input name="seconds" type="number" min="0" max="86400" value="0" data-testid="poll-seconds" aria-label="poll timer in seconds" /> s</label>
        </div>
        <button type="submit" class="primary" data-testid="open-poll">Open poll</button>
      </form>
      <ol class="host-list" id="polls"></ol>
    </div>
    <div class="card">
      <div class="card-head"><h2>Quiz</h2></div>
      <form id="quiz-form" class="stack" autocomplete="off">
        <input name="question" maxlength="300" placeholder="Question, e.g. What year was Kafka open-sourced?" aria-label="quiz question" required />
        <textarea name="options" rows="3" placeholder="One option per line; mark the right one with a leading *" aria-label="quiz options" required></textarea>
        <div class="row"><label>Points <input name="points" type="number" min="1" max="1000" value="10" /></label>
        <label>Timer <input name="seconds" type="number" min="0" max="86400" value="0" data-testid="quiz-seconds" aria-label="quiz timer in seconds" /> s</label>
        <button type="submit" class="primary">Ask question</button></div>
      </form>
      <ol class="host-list" id="quizzes"></ol>
      <h3>Leaderboard</h3>
      <ol class="leaderboard" id="leaderboard"></ol>
    </div>
  </section>
  <section class="col">
    <div class="card">
      <div class="card-head"><h2>Q&amp;A</h2><span class="muted" id="qa-count"></span></div>
      <ol class="qa-list" id="qa"></ol>
    </div>
    <div class="card" data-testid="pending-card">
      <div class="card-head"><h2>Pending review</h2><span class="muted" id="pending-count" data-testid="pending-count"></span></div>
      <ol class="host-list" id="pending" data-testid="pending"></ol>
    </div>
    <div class="card">
      <div class="card-head"><h2>Room controls</h2></div>
      <form id="controls-form" class="stack" autocomplete="off">
        <div class="row"><label>Slow mode (s) <input name="slow_mode" type="number" min="0" max="3600" value="0" data-testid="slow-mode" /></label></div>
        <div class="checks">
          <label><input type="checkbox" name="chat_off" data-testid="chat-off" /> chat off</label>
          <label><input type="checkbox" name="emote_only" data-testid="emote-only" /> emote-only</label>
          <label><input type="checkbox" name="reactions_off" data-testid="reactions-off" /> reactions off</label>
          <label><input type="checkbox" name="questions_off" data-testid="questions-off" /> questions off</label>
          <label><input type="checkbox" name="hold_chat" data-testid="hold-chat" /> hold chat for review</label>
          <label><input type="checkbox" name="hold_questions" data-testid="hold-questions" /> hold questions for review</label>
        </div>
        <button type="submit" class="primary" data-testid="apply-controls">Apply</button>
      </form>
      <p class="muted small" data-testid="controls-now"></p>
      <div class="row" id="pinned-now"></div>
      <form id="filter-form" class="stack" autocomplete="off">
        <input name="words" maxlength="2000" placeholder="Word filter: words separated by spaces or commas (private)" aria-label="filter words" data-testid="filter-words" />
        <div class="row"><select name="action" aria-label="filter action" data-testid="filter-action"><option value="mask">mask with *</option><option value="refuse">refuse the line</option><option value="hold">hold for review</option></select>
        <button type="submit" data-testid="apply-filter">Set filter</button></div>
      </form>
      <label class="small"><input type="checkbox" id="everywhere" data-testid="everywhere" /> Ban and 10 min apply everywhere (every room of the deployment)</label>
      <h3>Sanctions</h3>
      <ol class="host-list" id="sanctions" data-testid="sanctions"></ol>
      <h3>Banned everywhere</h3>
      <ol class="host-list" id="dep-sanctions" data-testid="dep-sanctions"></ol>
    </div>
    <div class="card chat">
      <div class="card-head"><h2>Chat moderation</h2><span class="muted" id="chat-count"></span></div>
      <ol class="chat-list" id="chat"></ol>
    </div>
  </section>`;
app.append(main);

// The deployment room (?deployment_room=, default the server's default):
// its bans and timeouts apply in every room. The console watches it to
// list who is sanctioned everywhere.
const dep: Room = s.client.deployment(new URLSearchParams(location.search).get("deployment_room") ?? DEFAULT_DEPLOYMENT_ROOM);
const everywhere = (): boolean => $<HTMLInputElement>("#everywhere").checked;

// The host knows each quiz's right answer before the room does.
const correctOf = new Map<string, number>();

function lines(v: string): string[] {
  return v.split("\n").map((l) => l.trim()).filter(Boolean);
}

$<HTMLFormElement>("#poll-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const f = ev.target as HTMLFormElement;
  const question = (f.elements.namedItem("question") as HTMLInputElement).value.trim();
  const options = lines((f.elements.namedItem("options") as HTMLTextAreaElement).value);
  const kind = (f.elements.namedItem("kind") as HTMLSelectElement).value as PollKind;
  const seconds = Number((f.elements.namedItem("seconds") as HTMLInputElement).value) || undefined;
  const data: PollOpenData = { poll_id: newId("poll"), question, seconds };
  if (kind === "rating") {
    data.kind = kind;
    data.scale = (f.elements.namedItem("scale") as HTMLSelectElement).value as RatingScale;
  } else if (kind === "text" || kind === "cloud") {
    data.kind = kind;
  } else {
    if (options.length < 2 || options.length > 10) return toast("A poll needs 2 to 10 options, one per line.");
    data.options = options;
    if (kind !== "single") data.kind = kind;
  }
  publishing(s.room.publish({ type: "poll.open", data }).then(() => f.reset()));
});

$<HTMLFormElement>("#quiz-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const f = ev.target as HTMLFormElement;
  const question = (f.elements.namedItem("question") as HTMLInputElement).value.trim();
  const raw = lines((f.elements.namedItem("options") as HTMLTextAreaElement).value);
  const correct = raw.findIndex((o) => o.startsWith("*"));
  const options = raw.map((o) => o.replace(/^\*\s*/, ""));
  if (options.length < 2 || options.length > 10) return toast("A quiz question needs 2 to 10 options, one per line.");
  if (correct < 0) return toast("Mark the right option with a leading *.");
  const points = Number((f.elements.namedItem("points") as HTMLInputElement).value) || 1;
  const seconds = Number((f.elements.namedItem("seconds") as HTMLInputElement).value) || undefined;
  const quizId = newId("quiz");
  correctOf.set(quizId, correct);
  publishing(s.room.publish({ type: "quiz.ask", data: { quiz_id: quizId, question, options, correct, points, seconds } }).then(() => f.reset()));
});

$<HTMLFormElement>("#controls-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const f = ev.target as HTMLFormElement;
  const box = (n: string) => (f.elements.namedItem(n) as HTMLInputElement).checked || undefined;
  const slow = Number((f.elements.namedItem("slow_mode") as HTMLInputElement).value) || undefined;
  publishing(s.room.setControls({
    slow_mode: slow, chat_off: box("chat_off"), emote_only: box("emote_only"), reactions_off: box("reactions_off"), questions_off: box("questions_off"),
    hold_chat: box("hold_chat"), hold_questions: box("hold_questions"),
  }));
});

$<HTMLFormElement>("#filter-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const f = ev.target as HTMLFormElement;
  const words = (f.elements.namedItem("words") as HTMLInputElement).value.split(/[\s,]+/).filter(Boolean);
  const action = (f.elements.namedItem("action") as HTMLSelectElement).value as "refuse" | "mask" | "hold";
  publishing(s.room.setFilter(words, action).then(() => toast(words.length ? `Filter set: ${words.length} word(s), ${action}` : "Filter off", "info")));
});

main.addEventListener("click", (ev) => {
  const t = (ev.target as HTMLElement).closest<HTMLElement>("[data-action]");
  if (!t || (t as HTMLButtonElement).disabled) return;
  const d = t.dataset;
  const btn = t as HTMLButtonElement;
  // Disabled until the room shows the change; enabled again if refused.
  btn.disabled = true;
  const done = (p: Promise<unknown>) => publishing(p.catch((err) => {
    btn.disabled = false;
    throw err;
  }));
  switch (d.action) {
    case "close-poll":
      return done(s.room.publish({ type: "poll.close", data: { poll_id: d.id! } }));
    case "reveal":
      return done(s.room.publish({ type: "quiz.reveal", data: { quiz_id: d.id! } }));
    case "answered":
      return done(s.room.publish({ type: "qa.answered", data: { question_id: d.id! } }));
    case "delete":
      return done(s.room.publish({ type: "chat.delete", data: { message_id: d.id! } }));
    case "ban":
      if (everywhere()) return done(dep.ban(d.user!, { reason: "banned everywhere from the host console" }));
      return done(s.room.ban(d.user!, { hide: true, reason: "banned from the host console" }));
    case "timeout":
      if (everywhere()) return done(dep.timeout(d.user!, 600));
      return done(s.room.timeout(d.user!, 600, { hide: true }));
    case "unban":
      return done(s.room.unban(d.user!));
    case "unban-everywhere":
      return done(dep.unban(d.user!));
    case "pin":
      return done(s.room.pin(d.id!));
    case "unpin":
      return done(s.room.unpin());
    case "approve":
      return done(s.room.approve(d.id!));
    case "reject":
      return done(s.room.reject(d.id!));
  }
});

// keyed rebuilds el only when sig changes and otherwise patches numbers in
// place, so buttons under the host's cursor are not replaced mid-click.
function keyed(el: HTMLElement, sig: unknown, build: () => string, patch: () => void): void {
  const k = JSON.stringify(sig);
  if (el.dataset.sig !== k) {
    el.dataset.sig = k;
    el.innerHTML = build();
  }
  patch();
}

const byNewest = <T,>(m: Record<string, T>): [string, T][] => Object.entries(m).sort(([a], [b]) => (a < b ? 1 : -1));

function render(st: RoomState): void {
  const t = st.totals;
  $("#stats").innerHTML = [
    ["viewers", st.viewers], ["reactions", t.reactions], ["chat", t.chat], ["votes", t.votes], ["questions", t.questions], ["answers", t.answers],
  ].map(([k, v]) => `<div class="stat"><b data-testid="total-${k}">${fmt(v as number)}</b><span>${k}</span></div>`).join("");
  renderCustom($("#custom"), st);

  const polls = byNewest(st.polls);
  const pollsEl = $("#polls");
  keyed(pollsEl, polls.map(([id, p]) => [id, p.closed, p.options, p.kind]), () => polls.length ? polls.map(([id, p]) => `
    <li data-id="${esc(id)}" data-kind="${esc(p.kind ?? "single")}">
      <div class="row"><p class="question">${esc(p.question)}</p><span class="badge">${esc(p.kind ?? "single")}</span>${p.closed ? `<span class="badge">closed</span>` : `<button class="danger small" data-action="close-poll" data-id="${esc(id)}">Close</button>`}</div>
      ${p.options.map((o, i) => `<div class="mini-bar"><span class="fill" data-i="${i}"></span><span class="label">${esc(o)}</span><b data-i="${i}"></b></div>`).join("")}
      <p class="muted small"><span class="total"></span> <span class="summary" data-testid="host-poll-summary"></span></p>
    </li>`).join("") : `<li class="empty">No polls yet. Open one above; the audience sees it at once.</li>`, () => {
    for (const [id, p] of polls) {
      const li = pollsEl.querySelector<HTMLElement>(`li[data-id="${CSS.escape(id)}"]`);
      if (!li) continue;
      li.querySelector<HTMLElement>(".summary")!.textContent = pollSummary(p);
      const total = p.votes.reduce((a, b) => a + b, 0);
      p.options.forEach((_, i) => {
        li.querySelector<HTMLElement>(`.fill[data-i="${i}"]`)!.style.width = `${total ? (100 * (p.votes[i] ?? 0)) / total : 0}%`;
        li.querySelector<HTMLElement>(`b[data-i="${i}"]`)!.textContent = String(p.votes[i] ?? 0);
      });
      li.querySelector<HTMLElement>(".total")!.textContent = p.kind && p.kind !== "single" ? `${p.voters ?? 0} voters` : `${total} votes`;
    }
  });

  const quizzes = byNewest(st.quizzes);
  const quizEl = $("#quizzes");
  keyed(quizEl, quizzes.map(([id, z]) => [id, z.revealed]), () => quizzes.length ? quizzes.map(([id, z]) => {
    const right = z.revealed ? z.correct : correctOf.get(id);
    return `<li data-id="${esc(id)}">
      <div class="row"><p class="question">${esc(z.question)}</p>${z.revealed ? `<span class="badge">revealed</span>` : `<button class="primary small" data-action="reveal" data-id="${esc(id)}">Reveal</button>`}</div>
      <p class="muted small">${z.options.map((o, i) => (i === right ? `<b class="ok">✓ ${esc(o)}</b>` : esc(o))).join(" · ")} — ${z.points} pts · <span class="answers"></span> answers</p>
    </li>`;
  }).join("") : `<li class="empty">No quiz questions yet.</li>`, () => {
    for (const [id, z] of quizzes) {
      const a = quizEl.querySelector<HTMLElement>(`li[data-id="${CSS.escape(id)}"] .answers`);
      if (a) a.textContent = String(z.answers);
    }
  });
  $("#leaderboard").innerHTML = st.leaderboard.length
    ? st.leaderboard.map((e, i) => `<li><span class="rank">${i + 1}</span><span class="avatar" style="--h:${hue(e.user)}">${esc(initials(e.user))}</span><span class="who">${esc(e.user)}</span><b>${e.score}</b></li>`).join("")
    : `<li class="empty small">Reveal an answer to score the room.</li>`;

  const qs = Object.entries(st.questions).sort(([ia, a], [ib, b]) =>
    Number(a.answered) - Number(b.answered) || b.upvotes - a.upvotes || a.ts - b.ts || (ia < ib ? -1 : 1));
  $("#qa-count").textContent = `${qs.length} question${qs.length === 1 ? "" : "s"}`;
  const qaEl = $("#qa");
  keyed(qaEl, qs.map(([id, q]) => [id, q.answered]), () => qs.length ? qs.map(([id, q]) => `
    <li class="qa-item${q.answered ? " answered" : ""}" data-id="${esc(id)}">
      <span class="upvote static">▲<b></b></span>
      <div><p class="text">${esc(q.text)}</p><span class="muted small">${esc(q.user)}</span></div>
      ${q.answered ? `<span class="badge ok">answered</span>` : `<button class="small" data-action="answered" data-id="${esc(id)}">Mark answered</button>`}
    </li>`).join("") : `<li class="empty">No questions yet.</li>`, () => {
    for (const [id, q] of qs) {
      const b = qaEl.querySelector<HTMLElement>(`li[data-id="${CSS.escape(id)}"] .upvote b`);
      if (b) b.textContent = String(q.upvotes);
    }
  });

  const chat = [...st.chat].reverse();
  $("#chat-count").textContent = `${fmt(t.chat)} messages`;
  keyed($("#chat"), chat.map((l) => l.id), () => chat.length ? chat.map((l) => `
    <li class="chat-line" data-id="${esc(l.id)}">
      <span class="avatar" style="--h:${hue(l.user)}">${esc(initials(l.name || l.user))}</span>
      <div><span class="who">${esc(l.name || l.user)}</span><span class="when">${timeAgo(l.ts)}</span><p class="text">${esc(l.text)}</p></div>
      <button class="danger small" data-action="delete" data-id="${esc(l.id)}" aria-label="delete message">Delete</button>
      <button class="small" data-action="pin" data-id="${esc(l.id)}" data-testid="pin" aria-label="pin message">Pin</button>
      <button class="small" data-action="timeout" data-user="${esc(l.user)}" data-testid="timeout" aria-label="time out ${esc(l.user)} for 10 minutes">10 min</button>
      <button class="danger small" data-action="ban" data-user="${esc(l.user)}" data-testid="ban" aria-label="ban ${esc(l.user)}">Ban</button>
    </li>`).join("") : `<li class="empty">No messages yet.</li>`, () => {});

  const c = st.mod?.controls ?? {};
  $("[data-testid=controls-now]").textContent = [
    c.slow_mode ? `slow mode ${c.slow_mode} s` : "", c.chat_off ? "chat off" : "", c.emote_only ? "emote-only" : "",
    c.reactions_off ? "reactions off" : "", c.questions_off ? "questions off" : "",
    c.hold_chat ? "chat held for review" : "", c.hold_questions ? "questions held for review" : "",
  ].filter(Boolean).join(" · ") || "no controls on";
  const pin = st.pinned;
  keyed($("#pinned-now"), pin ? [pin.id] : [], () => pin
    ? `<span class="small">📌 ${esc(pin.name || pin.user)}: ${esc(pin.text)}</span><button class="small" data-action="unpin" data-testid="unpin">Unpin</button>`
    : "", () => {});
  const sanctions = Object.entries(st.mod?.sanctions ?? {}).filter(([, x]) => x.until === undefined || x.until > Date.now()).sort(([a], [b]) => (a < b ? -1 : 1));
  keyed($("#sanctions"), sanctions, () => sanctions.length ? sanctions.map(([u, x]) => `
    <li class="row" data-user="${esc(u)}"><span class="who">${esc(u)}</span>
      <span class="muted small">${x.kind === "ban" ? "banned" : `timed out until ${new Date(x.until!).toLocaleTimeString()}`} by ${esc(x.by)}</span>
      <button class="small" data-action="unban" data-user="${esc(u)}" data-testid="unban">Unban</button></li>`).join("") : `<li class="empty small">Nobody is banned or timed out.</li>`, () => {});
}

onState(s, render);

function renderDep(st: RoomState): void {
  const list = Object.entries(st.mod?.sanctions ?? {}).filter(([, x]) => x.until === undefined || x.until > Date.now()).sort(([a], [b]) => (a < b ? -1 : 1));
  keyed($("#dep-sanctions"), list, () => list.length ? list.map(([u, x]) => `
    <li class="row" data-user="${esc(u)}"><span class="who">${esc(u)}</span>
      <span class="muted small">${x.kind === "ban" ? "banned everywhere" : `timed out everywhere until ${new Date(x.until!).toLocaleTimeString()}`} by ${esc(x.by)}</span>
      <button class="small" data-action="unban-everywhere" data-user="${esc(u)}" data-testid="unban-everywhere">Unban everywhere</button></li>`).join("") : `<li class="empty small">Nobody is banned everywhere.</li>`, () => {});
}
dep.on("state", renderDep);

// The pending queue is the room's moderator view (ROOM~mod), a stream of
// its own that pushers serve only to a token with moderate in the room.
const view: Room = s.client.room(modView(s.room.name));
let viewQueued = false;
view.on("state", () => {
  if (!viewQueued) {
    viewQueued = true;
    requestAnimationFrame(() => {
      viewQueued = false;
      renderPending(view);
    });
  }
});
renderPending(view);

function renderPending(v: Room): void {
  const held = v.held();
  $("#pending-count").textContent = `${held.length} waiting`;
  keyed($("#pending"), held.map(([k]) => k), () => held.length ? held.map(([k, h]) => `
    <li class="row" data-key="${esc(k)}" data-testid="pending-item">
      <span class="badge">${h.kind === "question" ? "question" : "chat"}${h.filtered ? " · filter" : ""}</span>
      <div><span class="who">${esc(h.name || h.user)}</span><span class="when">${timeAgo(h.ts)}</span><p class="text">${esc(h.text)}</p></div>
      <button class="primary small" data-action="approve" data-id="${esc(k)}" data-testid="approve">Approve</button>
      <button class="danger small" data-action="reject" data-id="${esc(k)}" data-testid="reject">Reject</button>
    </li>`).join("") : `<li class="empty small">Nothing waiting. Turn on "hold … for review" above, or a filter that holds.</li>`, () => {});
}

// pollSummary says in one line what a poll of a kind beyond single choice
// shows: the mean rating, the leading words, the latest answer, the
// Borda leader, a timer.
function pollSummary(p: Poll): string {
  const parts: string[] = [];
  if (p.kind === "rating") {
    const m = pollMean(p);
    parts.push(m === undefined ? "no ratings yet" : `mean ${m.toFixed(2)}`);
  } else if (p.kind === "cloud") {
    parts.push((p.words ?? []).slice(0, 5).map((w) => `${w.word} ×${w.count}`).join(", ") || "no words yet");
  } else if (p.kind === "text") {
    const last = (p.texts ?? []).at(-1);
    parts.push(last ? `latest: “${last.text}”` : "no answers yet");
  } else if (p.kind === "ranking") {
    const best = p.votes.indexOf(Math.max(...p.votes));
    parts.push(p.voters ? `leading: ${p.options[best]} (Borda ${p.votes[best]})` : "no ballots yet");
  }
  if (p.closes_at && !p.closed) parts.push(`closes ${new Date(p.closes_at).toLocaleTimeString()}`);
  return parts.join(" · ");
}
