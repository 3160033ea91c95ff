import{s as E,$ as c,h as I,t as g,p as w,n as k,o as L,f as y,a as x,e as n,i as z,b as O}from"./common.js";const m=E("host"),C=c("#app");C.append(I(m,"host console",{href:`/${location.search}`,text:"← Audience view"}));const f=document.createElement("main");f.className="grid host";f.innerHTML=`
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
    <div class="card chat">
      <div class="card-head"><h2>Chat moderation</h2><span class="muted" id="chat-count"></span></div>
      <ol class="chat-list" id="chat"></ol>
    </div>
  </section>`;C.append(f);const j=new Map;function N(a){return a.split(`
`).map(t=>t.trim()).filter(Boolean)}c("#poll-form").addEventListener("submit",a=>{a.preventDefault();const t=a.target,o=t.elements.namedItem("question").value.trim(),r=N(t.elements.namedItem("options").value);if(r.length<2||r.length>10)return g("A poll needs 2 to 10 options, one per line.");w(m.room.publish({type:"poll.open",data:{poll_id:k("poll"),question:o,options:r}}).then(()=>t.reset()))});c("#quiz-form").addEventListener("submit",a=>{a.preventDefault();const t=a.target,o=t.elements.namedItem("question").value.trim(),r=N(t.elements.namedItem("options").value),i=r.findIndex(h=>h.startsWith("*")),u=r.map(h=>h.replace(/^\*\s*/,""));if(u.length<2||u.length>10)return g("A quiz question needs 2 to 10 options, one per line.");if(i<0)return g("Mark the right option with a leading *.");const p=Number(t.elements.namedItem("points").value)||1,b=k("quiz");j.set(b,i),w(m.room.publish({type:"quiz.ask",data:{quiz_id:b,question:o,options:u,correct:i,points:p}}).then(()=>t.reset()))});f.addEventListener("click",a=>{const t=a.target.closest("[data-action]");if(!t||t.disabled)return;const o=t.dataset,r=t;r.disabled=!0;const i=u=>w(u.catch(p=>{throw r.disabled=!1,p}));switch(o.action){case"close-poll":return i(m.room.publish({type:"poll.close",data:{poll_id:o.id}}));case"reveal":return i(m.room.publish({type:"quiz.reveal",data:{quiz_id:o.id}}));case"answered":return i(m.room.publish({type:"qa.answered",data:{question_id:o.id}}));case"delete":return i(m.room.publish({type:"chat.delete",data:{message_id:o.id}}))}});function $(a,t,o,r){const i=JSON.stringify(t);a.dataset.sig!==i&&(a.dataset.sig=i,a.innerHTML=o()),r()}const S=a=>Object.entries(a).sort(([t],[o])=>t<o?1:-1);function M(a){const t=a.totals;c("#stats").innerHTML=[["viewers",a.viewers],["reactions",t.reactions],["chat",t.chat],["votes",t.votes],["questions",t.questions],["answers",t.answers]].map(([e,s])=>`<div class="stat"><b data-testid="total-${e}">${y(s)}</b><span>${e}</span></div>`).join("");const o=S(a.polls),r=c("#polls");$(r,o.map(([e,s])=>[e,s.closed,s.options]),()=>o.length?o.map(([e,s])=>`
    <li data-id="${n(e)}">
      <div class="row"><p class="question">${n(s.question)}</p>${s.closed?'<span class="badge">closed</span>':`<button class="danger small" data-action="close-poll" data-id="${n(e)}">Close</button>`}</div>
      ${s.options.map((l,d)=>`<div class="mini-bar"><span class="fill" data-i="${d}"></span><span class="label">${n(l)}</span><b data-i="${d}"></b></div>`).join("")}
      <p class="muted small"><span class="total"></span> votes</p>
    </li>`).join(""):'<li class="empty">No polls yet. Open one above; the audience sees it at once.</li>',()=>{for(const[e,s]of o){const l=r.querySelector(`li[data-id="${CSS.escape(e)}"]`);if(!l)continue;const d=s.votes.reduce((q,v)=>q+v,0);s.options.forEach((q,v)=>{l.querySelector(`.fill[data-i="${v}"]`).style.width=`${d?100*(s.votes[v]??0)/d:0}%`,l.querySelector(`b[data-i="${v}"]`).textContent=String(s.votes[v]??0)}),l.querySelector(".total").textContent=String(d)}});const i=S(a.quizzes),u=c("#quizzes");$(u,i.map(([e,s])=>[e,s.revealed]),()=>i.length?i.map(([e,s])=>{const l=s.revealed?s.correct:j.get(e);return`<li data-id="${n(e)}">
      <div class="row"><p class="question">${n(s.question)}</p>${s.revealed?'<span class="badge">revealed</span>':`<button class="primary small" data-action="reveal" data-id="${n(e)}">Reveal</button>`}</div>
      <p class="muted small">${s.options.map((d,q)=>q===l?`<b class="ok">✓ ${n(d)}</b>`:n(d)).join(" · ")} — ${s.points} pts · <span class="answers"></span> answers</p>
    </li>`}).join(""):'<li class="empty">No quiz questions yet.</li>',()=>{for(const[e,s]of i){const l=u.querySelector(`li[data-id="${CSS.escape(e)}"] .answers`);l&&(l.textContent=String(s.answers))}}),c("#leaderboard").innerHTML=a.leaderboard.length?a.leaderboard.map((e,s)=>`<li><span class="rank">${s+1}</span><span class="avatar" style="--h:${x(e.user)}">${n(z(e.user))}</span><span class="who">${n(e.user)}</span><b>${e.score}</b></li>`).join(""):'<li class="empty small">Reveal an answer to score the room.</li>';const p=Object.entries(a.questions).sort(([e,s],[l,d])=>Number(s.answered)-Number(d.answered)||d.upvotes-s.upvotes||s.ts-d.ts||(e<l?-1:1));c("#qa-count").textContent=`${p.length} question${p.length===1?"":"s"}`;const b=c("#qa");$(b,p.map(([e,s])=>[e,s.answered]),()=>p.length?p.map(([e,s])=>`
    <li class="qa-item${s.answered?" answered":""}" data-id="${n(e)}">
      <span class="upvote static">▲<b></b></span>
      <div><p class="text">${n(s.text)}</p><span class="muted small">${n(s.user)}</span></div>
      ${s.answered?'<span class="badge ok">answered</span>':`<button class="small" data-action="answered" data-id="${n(e)}">Mark answered</button>`}
    </li>`).join(""):'<li class="empty">No questions yet.</li>',()=>{for(const[e,s]of p){const l=b.querySelector(`li[data-id="${CSS.escape(e)}"] .upvote b`);l&&(l.textContent=String(s.upvotes))}});const h=[...a.chat].reverse();c("#chat-count").textContent=`${y(t.chat)} messages`,$(c("#chat"),h.map(e=>e.id),()=>h.length?h.map(e=>`
    <li class="chat-line" data-id="${n(e.id)}">
      <span class="avatar" style="--h:${x(e.user)}">${n(z(e.name||e.user))}</span>
      <div><span class="who">${n(e.name||e.user)}</span><span class="when">${O(e.ts)}</span><p class="text">${n(e.text)}</p></div>
      <button class="danger small" data-action="delete" data-id="${n(e.id)}" aria-label="delete message">Delete</button>
    </li>`).join(""):'<li class="empty">No messages yet.</li>',()=>{})}L(m,M);
