import{s as L,$ as r,h as E,t as _,p as w,n as j,o as O,f as k,a as x,e as o,i as S,b as A}from"./common.js";const p=L("host"),C=r("#app");C.append(E(p,"host console",{href:`/${location.search}`,text:"← Audience view"}));const y=document.createElement("main");y.className="grid host";y.innerHTML=`
  <section class="col">
    <div class="card stats" id="stats"></div>
    <div class="card">
      <div class="card-head"><h2>Polls</h2></div>
      <form id="poll-form" class="stack" autocomplete="off">
        <input name="question" maxlength="300" placeholder="Question, e.g. Which talk did you like most?" aria-label="poll question" data-testid="poll-question" required />
        <textarea name="options" rows="3" placeholder="One option per line (2 to 10)" aria-label="poll options" data-testid="poll-options" required></textarea>
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
    <div class="card">
      <div class="card-head"><h2>Room controls</h2></div>
      <form id="controls-form" class="stack" autocomplete="off">
        <div class="row"><label>Slow mode (s) <input name="slow_mode" type="number" min="0" max="3600" value="0" data-testid="slow-mode" /></label></div>
        <div class="checks">
          <label><input type="checkbox" name="chat_off" data-testid="chat-off" /> chat off</label>
          <label><input type="checkbox" name="emote_only" data-testid="emote-only" /> emote-only</label>
          <label><input type="checkbox" name="reactions_off" data-testid="reactions-off" /> reactions off</label>
          <label><input type="checkbox" name="questions_off" data-testid="questions-off" /> questions off</label>
        </div>
        <button type="submit" class="primary" data-testid="apply-controls">Apply</button>
      </form>
      <p class="muted small" data-testid="controls-now"></p>
      <h3>Sanctions</h3>
      <ol class="host-list" id="sanctions" data-testid="sanctions"></ol>
    </div>
    <div class="card chat">
      <div class="card-head"><h2>Chat moderation</h2><span class="muted" id="chat-count"></span></div>
      <ol class="chat-list" id="chat"></ol>
    </div>
  </section>`;C.append(y);const N=new Map;function I(s){return s.split(`
`).map(a=>a.trim()).filter(Boolean)}r("#poll-form").addEventListener("submit",s=>{s.preventDefault();const a=s.target,n=a.elements.namedItem("question").value.trim(),l=I(a.elements.namedItem("options").value);if(l.length<2||l.length>10)return _("A poll needs 2 to 10 options, one per line.");w(p.room.publish({type:"poll.open",data:{poll_id:j("poll"),question:n,options:l}}).then(()=>a.reset()))});r("#quiz-form").addEventListener("submit",s=>{s.preventDefault();const a=s.target,n=a.elements.namedItem("question").value.trim(),l=I(a.elements.namedItem("options").value),i=l.findIndex(b=>b.startsWith("*")),m=l.map(b=>b.replace(/^\*\s*/,""));if(m.length<2||m.length>10)return _("A quiz question needs 2 to 10 options, one per line.");if(i<0)return _("Mark the right option with a leading *.");const u=Number(a.elements.namedItem("points").value)||1,v=j("quiz");N.set(v,i),w(p.room.publish({type:"quiz.ask",data:{quiz_id:v,question:n,options:m,correct:i,points:u}}).then(()=>a.reset()))});r("#controls-form").addEventListener("submit",s=>{s.preventDefault();const a=s.target,n=i=>a.elements.namedItem(i).checked||void 0,l=Number(a.elements.namedItem("slow_mode").value)||void 0;w(p.room.setControls({slow_mode:l,chat_off:n("chat_off"),emote_only:n("emote_only"),reactions_off:n("reactions_off"),questions_off:n("questions_off")}))});y.addEventListener("click",s=>{const a=s.target.closest("[data-action]");if(!a||a.disabled)return;const n=a.dataset,l=a;l.disabled=!0;const i=m=>w(m.catch(u=>{throw l.disabled=!1,u}));switch(n.action){case"close-poll":return i(p.room.publish({type:"poll.close",data:{poll_id:n.id}}));case"reveal":return i(p.room.publish({type:"quiz.reveal",data:{quiz_id:n.id}}));case"answered":return i(p.room.publish({type:"qa.answered",data:{question_id:n.id}}));case"delete":return i(p.room.publish({type:"chat.delete",data:{message_id:n.id}}));case"ban":return i(p.room.ban(n.user,{hide:!0,reason:"banned from the host console"}));case"timeout":return i(p.room.timeout(n.user,600,{hide:!0}));case"unban":return i(p.room.unban(n.user))}});function q(s,a,n,l){const i=JSON.stringify(a);s.dataset.sig!==i&&(s.dataset.sig=i,s.innerHTML=n()),l()}const z=s=>Object.entries(s).sort(([a],[n])=>a<n?1:-1);function M(s){const a=s.totals;r("#stats").innerHTML=[["viewers",s.viewers],["reactions",a.reactions],["chat",a.chat],["votes",a.votes],["questions",a.questions],["answers",a.answers]].map(([e,t])=>`<div class="stat"><b data-testid="total-${e}">${k(t)}</b><span>${e}</span></div>`).join("");const n=z(s.polls),l=r("#polls");q(l,n.map(([e,t])=>[e,t.closed,t.options]),()=>n.length?n.map(([e,t])=>`
    <li data-id="${o(e)}">
      <div class="row"><p class="question">${o(t.question)}</p>${t.closed?'<span class="badge">closed</span>':`<button class="danger small" data-action="close-poll" data-id="${o(e)}">Close</button>`}</div>
      ${t.options.map((d,c)=>`<div class="mini-bar"><span class="fill" data-i="${c}"></span><span class="label">${o(d)}</span><b data-i="${c}"></b></div>`).join("")}
      <p class="muted small"><span class="total"></span> votes</p>
    </li>`).join(""):'<li class="empty">No polls yet. Open one above; the audience sees it at once.</li>',()=>{for(const[e,t]of n){const d=l.querySelector(`li[data-id="${CSS.escape(e)}"]`);if(!d)continue;const c=t.votes.reduce(($,f)=>$+f,0);t.options.forEach(($,f)=>{d.querySelector(`.fill[data-i="${f}"]`).style.width=`${c?100*(t.votes[f]??0)/c:0}%`,d.querySelector(`b[data-i="${f}"]`).textContent=String(t.votes[f]??0)}),d.querySelector(".total").textContent=String(c)}});const i=z(s.quizzes),m=r("#quizzes");q(m,i.map(([e,t])=>[e,t.revealed]),()=>i.length?i.map(([e,t])=>{const d=t.revealed?t.correct:N.get(e);return`<li data-id="${o(e)}">
      <div class="row"><p class="question">${o(t.question)}</p>${t.revealed?'<span class="badge">revealed</span>':`<button class="primary small" data-action="reveal" data-id="${o(e)}">Reveal</button>`}</div>
      <p class="muted small">${t.options.map((c,$)=>$===d?`<b class="ok">✓ ${o(c)}</b>`:o(c)).join(" · ")} — ${t.points} pts · <span class="answers"></span> answers</p>
    </li>`}).join(""):'<li class="empty">No quiz questions yet.</li>',()=>{for(const[e,t]of i){const d=m.querySelector(`li[data-id="${CSS.escape(e)}"] .answers`);d&&(d.textContent=String(t.answers))}}),r("#leaderboard").innerHTML=s.leaderboard.length?s.leaderboard.map((e,t)=>`<li><span class="rank">${t+1}</span><span class="avatar" style="--h:${x(e.user)}">${o(S(e.user))}</span><span class="who">${o(e.user)}</span><b>${e.score}</b></li>`).join(""):'<li class="empty small">Reveal an answer to score the room.</li>';const u=Object.entries(s.questions).sort(([e,t],[d,c])=>Number(t.answered)-Number(c.answered)||c.upvotes-t.upvotes||t.ts-c.ts||(e<d?-1:1));r("#qa-count").textContent=`${u.length} question${u.length===1?"":"s"}`;const v=r("#qa");q(v,u.map(([e,t])=>[e,t.answered]),()=>u.length?u.map(([e,t])=>`
    <li class="qa-item${t.answered?" answered":""}" data-id="${o(e)}">
      <span class="upvote static">▲<b></b></span>
      <div><p class="text">${o(t.text)}</p><span class="muted small">${o(t.user)}</span></div>
      ${t.answered?'<span class="badge ok">answered</span>':`<button class="small" data-action="answered" data-id="${o(e)}">Mark answered</button>`}
    </li>`).join(""):'<li class="empty">No questions yet.</li>',()=>{for(const[e,t]of u){const d=v.querySelector(`li[data-id="${CSS.escape(e)}"] .upvote b`);d&&(d.textContent=String(t.upvotes))}});const b=[...s.chat].reverse();r("#chat-count").textContent=`${k(a.chat)} messages`,q(r("#chat"),b.map(e=>e.id),()=>b.length?b.map(e=>`
    <li class="chat-line" data-id="${o(e.id)}">
      <span class="avatar" style="--h:${x(e.user)}">${o(S(e.name||e.user))}</span>
      <div><span class="who">${o(e.name||e.user)}</span><span class="when">${A(e.ts)}</span><p class="text">${o(e.text)}</p></div>
      <button class="danger small" data-action="delete" data-id="${o(e.id)}" aria-label="delete message">Delete</button>
      <button class="small" data-action="timeout" data-user="${o(e.user)}" data-testid="timeout" aria-label="time out ${o(e.user)} for 10 minutes">10 min</button>
      <button class="danger small" data-action="ban" data-user="${o(e.user)}" data-testid="ban" aria-label="ban ${o(e.user)}">Ban</button>
    </li>`).join(""):'<li class="empty">No messages yet.</li>',()=>{});const h=s.mod?.controls??{};r("[data-testid=controls-now]").textContent=[h.slow_mode?`slow mode ${h.slow_mode} s`:"",h.chat_off?"chat off":"",h.emote_only?"emote-only":"",h.reactions_off?"reactions off":"",h.questions_off?"questions off":""].filter(Boolean).join(" · ")||"no controls on";const g=Object.entries(s.mod?.sanctions??{}).filter(([,e])=>e.until===void 0||e.until>Date.now()).sort(([e],[t])=>e<t?-1:1);q(r("#sanctions"),g,()=>g.length?g.map(([e,t])=>`
    <li class="row" data-user="${o(e)}"><span class="who">${o(e)}</span>
      <span class="muted small">${t.kind==="ban"?"banned":`timed out until ${new Date(t.until).toLocaleTimeString()}`} by ${o(t.by)}</span>
      <button class="small" data-action="unban" data-user="${o(e)}" data-testid="unban">Unban</button></li>`).join(""):'<li class="empty small">Nobody is banned or timed out.</li>',()=>{})}O(p,M);
