import{s as T,$ as d,h as D,n as N,t as y,p as g,o as P,m as B,e as n,a as L,f as j,r as F,b as z,i as C,c as Q}from"./common.js";const r=T("host"),E=d("#app");E.append(D(r,"host console",{href:`/${location.search}`,text:"← Audience view"}));const k=document.createElement("main");k.className="grid host";k.innerHTML=`
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
      <h3>Sanctions</h3>
      <ol class="host-list" id="sanctions" data-testid="sanctions"></ol>
    </div>
    <div class="card chat">
      <div class="card-head"><h2>Chat moderation</h2><span class="muted" id="chat-count"></span></div>
      <ol class="chat-list" id="chat"></ol>
    </div>
  </section>`;E.append(k);const O=new Map;function A(a){return a.split(`
`).map(o=>o.trim()).filter(Boolean)}d("#poll-form").addEventListener("submit",a=>{a.preventDefault();const o=a.target,t=o.elements.namedItem("question").value.trim(),l=A(o.elements.namedItem("options").value),i=o.elements.namedItem("kind").value,h=Number(o.elements.namedItem("seconds").value)||void 0,c={poll_id:N("poll"),question:t,seconds:h};if(i==="rating")c.kind=i,c.scale=o.elements.namedItem("scale").value;else if(i==="text"||i==="cloud")c.kind=i;else{if(l.length<2||l.length>10)return y("A poll needs 2 to 10 options, one per line.");c.options=l,i!=="single"&&(c.kind=i)}g(r.room.publish({type:"poll.open",data:c}).then(()=>o.reset()))});d("#quiz-form").addEventListener("submit",a=>{a.preventDefault();const o=a.target,t=o.elements.namedItem("question").value.trim(),l=A(o.elements.namedItem("options").value),i=l.findIndex(m=>m.startsWith("*")),h=l.map(m=>m.replace(/^\*\s*/,""));if(h.length<2||h.length>10)return y("A quiz question needs 2 to 10 options, one per line.");if(i<0)return y("Mark the right option with a leading *.");const c=Number(o.elements.namedItem("points").value)||1,$=Number(o.elements.namedItem("seconds").value)||void 0,f=N("quiz");O.set(f,i),g(r.room.publish({type:"quiz.ask",data:{quiz_id:f,question:t,options:h,correct:i,points:c,seconds:$}}).then(()=>o.reset()))});d("#controls-form").addEventListener("submit",a=>{a.preventDefault();const o=a.target,t=i=>o.elements.namedItem(i).checked||void 0,l=Number(o.elements.namedItem("slow_mode").value)||void 0;g(r.room.setControls({slow_mode:l,chat_off:t("chat_off"),emote_only:t("emote_only"),reactions_off:t("reactions_off"),questions_off:t("questions_off"),hold_chat:t("hold_chat"),hold_questions:t("hold_questions")}))});d("#filter-form").addEventListener("submit",a=>{a.preventDefault();const o=a.target,t=o.elements.namedItem("words").value.split(/[\s,]+/).filter(Boolean),l=o.elements.namedItem("action").value;g(r.room.setFilter(t,l).then(()=>y(t.length?`Filter set: ${t.length} word(s), ${l}`:"Filter off","info")))});k.addEventListener("click",a=>{const o=a.target.closest("[data-action]");if(!o||o.disabled)return;const t=o.dataset,l=o;l.disabled=!0;const i=h=>g(h.catch(c=>{throw l.disabled=!1,c}));switch(t.action){case"close-poll":return i(r.room.publish({type:"poll.close",data:{poll_id:t.id}}));case"reveal":return i(r.room.publish({type:"quiz.reveal",data:{quiz_id:t.id}}));case"answered":return i(r.room.publish({type:"qa.answered",data:{question_id:t.id}}));case"delete":return i(r.room.publish({type:"chat.delete",data:{message_id:t.id}}));case"ban":return i(r.room.ban(t.user,{hide:!0,reason:"banned from the host console"}));case"timeout":return i(r.room.timeout(t.user,600,{hide:!0}));case"unban":return i(r.room.unban(t.user));case"pin":return i(r.room.pin(t.id));case"unpin":return i(r.room.unpin());case"approve":return i(r.room.approve(t.id));case"reject":return i(r.room.reject(t.id))}});function b(a,o,t,l){const i=JSON.stringify(o);a.dataset.sig!==i&&(a.dataset.sig=i,a.innerHTML=t()),l()}const I=a=>Object.entries(a).sort(([o],[t])=>o<t?1:-1);function H(a){const o=a.totals;d("#stats").innerHTML=[["viewers",a.viewers],["reactions",o.reactions],["chat",o.chat],["votes",o.votes],["questions",o.questions],["answers",o.answers]].map(([e,s])=>`<div class="stat"><b data-testid="total-${e}">${j(s)}</b><span>${e}</span></div>`).join(""),F(d("#custom"),a);const t=I(a.polls),l=d("#polls");b(l,t.map(([e,s])=>[e,s.closed,s.options,s.kind]),()=>t.length?t.map(([e,s])=>`
    <li data-id="${n(e)}" data-kind="${n(s.kind??"single")}">
      <div class="row"><p class="question">${n(s.question)}</p><span class="badge">${n(s.kind??"single")}</span>${s.closed?'<span class="badge">closed</span>':`<button class="danger small" data-action="close-poll" data-id="${n(e)}">Close</button>`}</div>
      ${s.options.map((p,u)=>`<div class="mini-bar"><span class="fill" data-i="${u}"></span><span class="label">${n(p)}</span><b data-i="${u}"></b></div>`).join("")}
      <p class="muted small"><span class="total"></span> <span class="summary" data-testid="host-poll-summary"></span></p>
    </li>`).join(""):'<li class="empty">No polls yet. Open one above; the audience sees it at once.</li>',()=>{for(const[e,s]of t){const p=l.querySelector(`li[data-id="${CSS.escape(e)}"]`);if(!p)continue;p.querySelector(".summary").textContent=R(s);const u=s.votes.reduce((q,w)=>q+w,0);s.options.forEach((q,w)=>{p.querySelector(`.fill[data-i="${w}"]`).style.width=`${u?100*(s.votes[w]??0)/u:0}%`,p.querySelector(`b[data-i="${w}"]`).textContent=String(s.votes[w]??0)}),p.querySelector(".total").textContent=s.kind&&s.kind!=="single"?`${s.voters??0} voters`:`${u} votes`}});const i=I(a.quizzes),h=d("#quizzes");b(h,i.map(([e,s])=>[e,s.revealed]),()=>i.length?i.map(([e,s])=>{const p=s.revealed?s.correct:O.get(e);return`<li data-id="${n(e)}">
      <div class="row"><p class="question">${n(s.question)}</p>${s.revealed?'<span class="badge">revealed</span>':`<button class="primary small" data-action="reveal" data-id="${n(e)}">Reveal</button>`}</div>
      <p class="muted small">${s.options.map((u,q)=>q===p?`<b class="ok">✓ ${n(u)}</b>`:n(u)).join(" · ")} — ${s.points} pts · <span class="answers"></span> answers</p>
    </li>`}).join(""):'<li class="empty">No quiz questions yet.</li>',()=>{for(const[e,s]of i){const p=h.querySelector(`li[data-id="${CSS.escape(e)}"] .answers`);p&&(p.textContent=String(s.answers))}}),d("#leaderboard").innerHTML=a.leaderboard.length?a.leaderboard.map((e,s)=>`<li><span class="rank">${s+1}</span><span class="avatar" style="--h:${z(e.user)}">${n(C(e.user))}</span><span class="who">${n(e.user)}</span><b>${e.score}</b></li>`).join(""):'<li class="empty small">Reveal an answer to score the room.</li>';const c=Object.entries(a.questions).sort(([e,s],[p,u])=>Number(s.answered)-Number(u.answered)||u.upvotes-s.upvotes||s.ts-u.ts||(e<p?-1:1));d("#qa-count").textContent=`${c.length} question${c.length===1?"":"s"}`;const $=d("#qa");b($,c.map(([e,s])=>[e,s.answered]),()=>c.length?c.map(([e,s])=>`
    <li class="qa-item${s.answered?" answered":""}" data-id="${n(e)}">
      <span class="upvote static">▲<b></b></span>
      <div><p class="text">${n(s.text)}</p><span class="muted small">${n(s.user)}</span></div>
      ${s.answered?'<span class="badge ok">answered</span>':`<button class="small" data-action="answered" data-id="${n(e)}">Mark answered</button>`}
    </li>`).join(""):'<li class="empty">No questions yet.</li>',()=>{for(const[e,s]of c){const p=$.querySelector(`li[data-id="${CSS.escape(e)}"] .upvote b`);p&&(p.textContent=String(s.upvotes))}});const f=[...a.chat].reverse();d("#chat-count").textContent=`${j(o.chat)} messages`,b(d("#chat"),f.map(e=>e.id),()=>f.length?f.map(e=>`
    <li class="chat-line" data-id="${n(e.id)}">
      <span class="avatar" style="--h:${z(e.user)}">${n(C(e.name||e.user))}</span>
      <div><span class="who">${n(e.name||e.user)}</span><span class="when">${L(e.ts)}</span><p class="text">${n(e.text)}</p></div>
      <button class="danger small" data-action="delete" data-id="${n(e.id)}" aria-label="delete message">Delete</button>
      <button class="small" data-action="pin" data-id="${n(e.id)}" data-testid="pin" aria-label="pin message">Pin</button>
      <button class="small" data-action="timeout" data-user="${n(e.user)}" data-testid="timeout" aria-label="time out ${n(e.user)} for 10 minutes">10 min</button>
      <button class="danger small" data-action="ban" data-user="${n(e.user)}" data-testid="ban" aria-label="ban ${n(e.user)}">Ban</button>
    </li>`).join(""):'<li class="empty">No messages yet.</li>',()=>{});const m=a.mod?.controls??{};d("[data-testid=controls-now]").textContent=[m.slow_mode?`slow mode ${m.slow_mode} s`:"",m.chat_off?"chat off":"",m.emote_only?"emote-only":"",m.reactions_off?"reactions off":"",m.questions_off?"questions off":"",m.hold_chat?"chat held for review":"",m.hold_questions?"questions held for review":""].filter(Boolean).join(" · ")||"no controls on";const v=a.pinned;b(d("#pinned-now"),v?[v.id]:[],()=>v?`<span class="small">📌 ${n(v.name||v.user)}: ${n(v.text)}</span><button class="small" data-action="unpin" data-testid="unpin">Unpin</button>`:"",()=>{});const x=Object.entries(a.mod?.sanctions??{}).filter(([,e])=>e.until===void 0||e.until>Date.now()).sort(([e],[s])=>e<s?-1:1);b(d("#sanctions"),x,()=>x.length?x.map(([e,s])=>`
    <li class="row" data-user="${n(e)}"><span class="who">${n(e)}</span>
      <span class="muted small">${s.kind==="ban"?"banned":`timed out until ${new Date(s.until).toLocaleTimeString()}`} by ${n(s.by)}</span>
      <button class="small" data-action="unban" data-user="${n(e)}" data-testid="unban">Unban</button></li>`).join(""):'<li class="empty small">Nobody is banned or timed out.</li>',()=>{})}P(r,H);const S=r.client.room(B(r.room.name));let _=!1;S.on("state",()=>{_||(_=!0,requestAnimationFrame(()=>{_=!1,M(S)}))});M(S);function M(a){const o=a.held();d("#pending-count").textContent=`${o.length} waiting`,b(d("#pending"),o.map(([t])=>t),()=>o.length?o.map(([t,l])=>`
    <li class="row" data-key="${n(t)}" data-testid="pending-item">
      <span class="badge">${l.kind==="question"?"question":"chat"}${l.filtered?" · filter":""}</span>
      <div><span class="who">${n(l.name||l.user)}</span><span class="when">${L(l.ts)}</span><p class="text">${n(l.text)}</p></div>
      <button class="primary small" data-action="approve" data-id="${n(t)}" data-testid="approve">Approve</button>
      <button class="danger small" data-action="reject" data-id="${n(t)}" data-testid="reject">Reject</button>
    </li>`).join(""):'<li class="empty small">Nothing waiting. Turn on "hold … for review" above, or a filter that holds.</li>',()=>{})}function R(a){const o=[];if(a.kind==="rating"){const t=Q(a);o.push(t===void 0?"no ratings yet":`mean ${t.toFixed(2)}`)}else if(a.kind==="cloud")o.push((a.words??[]).slice(0,5).map(t=>`${t.word} ×${t.count}`).join(", ")||"no words yet");else if(a.kind==="text"){const t=(a.texts??[]).at(-1);o.push(t?`latest: “${t.text}”`:"no answers yet")}else if(a.kind==="ranking"){const t=a.votes.indexOf(Math.max(...a.votes));o.push(a.voters?`leading: ${a.options[t]} (Borda ${a.votes[t]})`:"no ballots yet")}return a.closes_at&&!a.closed&&o.push(`closes ${new Date(a.closes_at).toLocaleTimeString()}`),o.join(" · ")}
