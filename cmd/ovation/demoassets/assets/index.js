import{s as N,$ as i,h as A,p as f,P as y,t as E,o as O,f as $,e as l,l as C,a as M,i as T,b as Q}from"./common.js";const L=["👏","❤️","🔥","😂","🎉","😮"],c=N("guest"),_=i("#app");_.append(A(c,"live room",{href:`/host${location.search}`,text:"Host console →"}));const b=document.createElement("main");b.className="grid";b.innerHTML=`
  <section class="col">
    <div class="card reactions">
      <div class="card-head"><h2>Reactions</h2><span class="muted" data-testid="reactions-total">0 total</span></div>
      <div class="emoji-row">${L.map(a=>`
        <button class="emoji" data-action="react" data-emoji="${a}" aria-label="react ${a}">
          <span class="e">${a}</span><span class="n" data-testid="reaction-count" data-emoji="${a}">0</span>
        </button>`).join("")}
      </div>
      <div class="extra-emoji" id="extra-emoji"></div>
    </div>
    <div class="card poll" id="poll" data-testid="poll"></div>
    <div class="card quiz" id="quiz"></div>
  </section>
  <section class="col">
    <div class="card chat">
      <div class="card-head"><h2>Chat</h2><span class="muted" data-testid="chat-total">0 messages</span></div>
      <ol class="chat-list" id="chat" data-testid="chat"></ol>
      <p class="controls muted small" data-testid="controls" hidden></p>
      <p class="banned" data-testid="banned" hidden></p>
      <form class="composer" id="chat-form" autocomplete="off">
        <input name="text" maxlength="500" placeholder="Say something nice…" aria-label="chat message" data-testid="chat-input" />
        <button type="submit" class="primary" data-testid="chat-send">Send</button>
      </form>
      <p class="muted small" data-testid="slow-countdown" hidden></p>
    </div>
    <div class="card qa">
      <div class="card-head"><h2>Q&amp;A</h2><span class="muted" id="qa-count">0 questions</span></div>
      <form class="composer" id="qa-form" autocomplete="off">
        <input name="text" maxlength="300" placeholder="Ask the speaker a question…" aria-label="question" data-testid="qa-input" />
        <button type="submit">Ask</button>
      </form>
      <ol class="qa-list" id="qa"></ol>
    </div>
  </section>`;_.append(b);const k=new Map,H=new Map,g=new Set;function D(a,t){const e=document.createElement("span");e.className="float",e.textContent=t,e.style.left=`${20+Math.random()*60}%`,a.append(e),setTimeout(()=>e.remove(),1200)}b.addEventListener("click",a=>{const t=a.target.closest("[data-action]");if(!t||t.disabled)return;const e=t.dataset;switch(e.action){case"react":D(t,e.emoji),f(c.room.publish({type:"reaction",data:{emoji:e.emoji}}));return;case"vote":{const o=Number(e.option);k.set(e.poll,o),f(c.room.publish({type:"poll.vote",data:{poll_id:e.poll,option:o}})),w(c.room.state);return}case"answer":{const o=Number(e.option);H.set(e.quiz,o),f(c.room.publish({type:"quiz.answer",data:{quiz_id:e.quiz,option:o}})),w(c.room.state);return}case"upvote":g.add(e.question),f(c.room.publish({type:"qa.upvote",data:{question_id:e.question}})),w(c.room.state);return}});i("#chat-form").addEventListener("submit",a=>{a.preventDefault();const t=i("input",a.target),e=t.value.trim();if(!e)return;t.value="";const o=c.room.state.mod?.controls.slow_mode??0;c.room.publish({type:"chat.message",data:{text:e,name:c.name}}).then(()=>{o>0&&z(o)},n=>{n instanceof y&&n.code==="slow_mode"&&n.retryAfter&&z(n.retryAfter),n instanceof y&&n.code==="banned"&&x(n.until),E(n.message)})});let S=0,q;function z(a){S=Date.now()+a*1e3;const t=i("[data-testid=slow-countdown]"),e=i("[data-testid=chat-send]"),o=()=>{const n=Math.ceil((S-Date.now())/1e3);if(n<=0){clearInterval(q),t.hidden=!0,e.disabled=!1;return}t.hidden=!1,t.textContent=`Slow mode: you can send again in ${n} s`,e.disabled=!0};clearInterval(q),q=setInterval(o,250),o()}function x(a){const t=i("[data-testid=banned]");t.hidden=!1,t.textContent=a?`You are timed out in this room until ${new Date(a).toLocaleTimeString()}.`:"You are banned from this room.",i("[data-testid=chat-send]").disabled=!0}c.room.on("error",a=>{a instanceof y&&a.code==="banned"&&x(a.until)});function P(a){const t=a.mod?.controls??{},e=[t.slow_mode?`Slow mode: one message every ${t.slow_mode} s`:"",t.chat_off?"Chat is off":"",t.emote_only?"Emote-only chat":"",t.reactions_off?"Reactions are off":"",t.questions_off?"Questions are closed":""].filter(Boolean),o=i("[data-testid=controls]");o.hidden=e.length===0,o.textContent=e.join(" · ");const n=c.room.sanction(c.user);n&&x(n.until)}i("#qa-form").addEventListener("submit",a=>{a.preventDefault();const t=i("input",a.target),e=t.value.trim();e&&(t.value="",f(c.room.publish({type:"qa.ask",data:{text:e}})))});function I(a){for(const e of b.querySelectorAll("[data-testid=reaction-count]"))e.textContent=$(a.reactions[e.dataset.emoji]??0);i("[data-testid=reactions-total]").textContent=`${$(a.totals.reactions)} total`;const t=Object.entries(a.reactions).filter(([e])=>!L.includes(e)).sort((e,o)=>o[1]-e[1]).slice(0,8);i("#extra-emoji").innerHTML=t.map(([e,o])=>`<span class="chip">${l(e)} ${$(o)}</span>`).join("")}function J(a){const t=i("#poll"),e=Object.entries(a.polls).filter(([,r])=>!r.closed).sort(([r],[p])=>r<p?-1:1),o=e.length?e[e.length-1]:C(a.polls);if(!o){t.dataset.sig="",t.innerHTML=`<div class="card-head"><h2>Poll</h2></div><p class="empty">No poll yet. Open the <a href="/host${l(location.search)}" target="_blank">host console</a> in another tab and start one: it shows up here and the bars move live.</p>`;return}const[n,s]=o,d=s.votes.reduce((r,p)=>r+p,0),u=k.get(n),m=JSON.stringify([n,s.closed,s.options,u]);if(t.dataset.sig===m){s.options.forEach((r,p)=>{const h=s.votes[p]??0,v=d?Math.round(100*h/d):0,j=t.querySelector(`.option[data-option="${p}"]`);j.querySelector(".bar").style.width=`${v}%`,j.querySelector(".count").innerHTML=`<b data-testid="poll-votes" data-option="${p}">${h}</b> · ${v}%`}),i("[data-testid=poll-total]",t).textContent=String(d);return}t.dataset.sig=m,t.innerHTML=`
    <div class="card-head"><h2>Poll</h2>${s.closed?'<span class="badge">closed</span>':'<span class="badge live">live</span>'}</div>
    <p class="question">${l(s.question)}</p>
    <div class="options">${s.options.map((r,p)=>{const h=s.votes[p]??0,v=d?Math.round(100*h/d):0;return`<button class="option${u===p?" mine":""}" data-action="vote" data-poll="${l(n)}" data-option="${p}" ${s.closed?"disabled":""}>
        <span class="bar" style="width:${v}%"></span>
        <span class="label">${l(r)}</span>
        <span class="count"><b data-testid="poll-votes" data-option="${p}">${h}</b> · ${v}%</span>
      </button>`}).join("")}</div>
    <p class="muted small"><span data-testid="poll-total">${d}</span> votes${u!==void 0?" · you can change your vote":""}</p>`}function B(a){const t=i("#quiz"),e=C(a.quizzes),o=a.leaderboard.length?`<ol class="leaderboard">${a.leaderboard.map((m,r)=>`
        <li class="${m.user===c.user?"me":""}"><span class="rank">${r+1}</span><span class="avatar" style="--h:${M(m.user)}">${l(T(m.user))}</span><span class="who">${l(m.user)}</span><b>${m.score}</b></li>`).join("")}</ol>`:'<p class="empty small">The leaderboard fills up when the host reveals an answer.</p>';if(!e){t.dataset.sig="",t.innerHTML=`<div class="card-head"><h2>Quiz</h2></div><p class="empty">No quiz question yet. The host asks one from the <a href="/host${l(location.search)}" target="_blank">host console</a>.</p><h3>Leaderboard</h3>${o}`;return}const[n,s]=e,d=H.get(n),u=JSON.stringify([n,s.revealed,s.options,d,a.leaderboard]);if(t.dataset.sig===u){i("[data-testid=quiz-answers]",t).textContent=String(s.answers);return}t.dataset.sig=u,t.innerHTML=`
    <div class="card-head"><h2>Quiz</h2>${s.revealed?'<span class="badge">revealed</span>':`<span class="badge live">${s.points} pt${s.points===1?"":"s"}</span>`}</div>
    <p class="question">${l(s.question)}</p>
    <div class="options quiz-options">${s.options.map((m,r)=>`<button class="option ${[d===r?"mine":"",s.revealed&&s.correct===r?"correct":"",s.revealed&&d===r&&s.correct!==r?"wrong":""].join(" ")}" data-action="answer" data-quiz="${l(n)}" data-option="${r}" ${s.revealed||d!==void 0?"disabled":""}><span class="label">${l(m)}</span></button>`).join("")}</div>
    <p class="muted small"><span data-testid="quiz-answers">${s.answers}</span> answers${d!==void 0&&!s.revealed?" · locked in, wait for the reveal":""}</p>
    <h3>Leaderboard</h3>${o}`}function R(a){const t=i("#chat"),e=t.scrollHeight-t.scrollTop-t.clientHeight<40;t.innerHTML=a.chat.length?a.chat.map(o=>`
      <li class="chat-line" data-id="${l(o.id)}">
        <span class="avatar" style="--h:${M(o.user)}">${l(T(o.name||o.user))}</span>
        <div><span class="who">${l(o.name||o.user)}</span><span class="when">${Q(o.ts)}</span><p class="text">${l(o.text)}</p></div>
      </li>`).join(""):'<li class="empty">No messages yet. Say hi!</li>',e&&(t.scrollTop=t.scrollHeight),i("[data-testid=chat-total]").textContent=`${$(a.totals.chat)} messages`}function U(a){const t=Object.entries(a.questions).sort(([n,s],[d,u])=>Number(s.answered)-Number(u.answered)||u.upvotes-s.upvotes||s.ts-u.ts||(n<d?-1:1));i("#qa-count").textContent=`${t.length} question${t.length===1?"":"s"}`;const e=i("#qa"),o=JSON.stringify(t.map(([n,s])=>[n,s.answered,g.has(n)]));if(e.dataset.sig===o){for(const[n,s]of t){const d=e.querySelector(`.qa-item[data-id="${CSS.escape(n)}"] .upvote b`);d&&(d.textContent=String(s.upvotes))}return}e.dataset.sig=o,e.innerHTML=t.length?t.map(([n,s])=>`
      <li class="qa-item${s.answered?" answered":""}" data-id="${l(n)}">
        <button class="upvote${g.has(n)?" mine":""}" data-action="upvote" data-question="${l(n)}" ${g.has(n)||s.answered?"disabled":""} aria-label="upvote">▲<b>${s.upvotes}</b></button>
        <div><p class="text">${l(s.text)}</p><span class="muted small">${l(s.user)}${s.answered?' · <span class="badge ok">answered</span>':""}</span></div>
      </li>`).join(""):'<li class="empty">No questions yet. Ask one — the most upvoted rise to the top.</li>'}function w(a){P(a),I(a),J(a),B(a),R(a),U(a)}O(c,w);
