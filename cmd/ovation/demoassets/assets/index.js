import{s as T,$ as r,h as H,p as m,o as N,f,e as i,l as w,a as j,i as x,b as k}from"./common.js";const z=["👏","❤️","🔥","😂","🎉","😮"],p=T("guest"),S=r("#app");S.append(H(p,"live room",{href:`/host${location.search}`,text:"Host console →"}));const b=document.createElement("main");b.className="grid";b.innerHTML=`
  <section class="col">
    <div class="card reactions">
      <div class="card-head"><h2>Reactions</h2><span class="muted" data-testid="reactions-total">0 total</span></div>
      <div class="emoji-row">${z.map(s=>`
        <button class="emoji" data-action="react" data-emoji="${s}" aria-label="react ${s}">
          <span class="e">${s}</span><span class="n" data-testid="reaction-count" data-emoji="${s}">0</span>
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
      <form class="composer" id="chat-form" autocomplete="off">
        <input name="text" maxlength="500" placeholder="Say something nice…" aria-label="chat message" data-testid="chat-input" />
        <button type="submit" class="primary">Send</button>
      </form>
    </div>
    <div class="card qa">
      <div class="card-head"><h2>Q&amp;A</h2><span class="muted" id="qa-count">0 questions</span></div>
      <form class="composer" id="qa-form" autocomplete="off">
        <input name="text" maxlength="300" placeholder="Ask the speaker a question…" aria-label="question" data-testid="qa-input" />
        <button type="submit">Ask</button>
      </form>
      <ol class="qa-list" id="qa"></ol>
    </div>
  </section>`;S.append(b);const M=new Map,L=new Map,g=new Set;function C(s,a){const t=document.createElement("span");t.className="float",t.textContent=a,t.style.left=`${20+Math.random()*60}%`,s.append(t),setTimeout(()=>t.remove(),1200)}b.addEventListener("click",s=>{const a=s.target.closest("[data-action]");if(!a||a.disabled)return;const t=a.dataset;switch(t.action){case"react":C(a,t.emoji),m(p.room.publish({type:"reaction",data:{emoji:t.emoji}}));return;case"vote":{const o=Number(t.option);M.set(t.poll,o),m(p.room.publish({type:"poll.vote",data:{poll_id:t.poll,option:o}})),q(p.room.state);return}case"answer":{const o=Number(t.option);L.set(t.quiz,o),m(p.room.publish({type:"quiz.answer",data:{quiz_id:t.quiz,option:o}})),q(p.room.state);return}case"upvote":g.add(t.question),m(p.room.publish({type:"qa.upvote",data:{question_id:t.question}})),q(p.room.state);return}});r("#chat-form").addEventListener("submit",s=>{s.preventDefault();const a=r("input",s.target),t=a.value.trim();t&&(a.value="",m(p.room.publish({type:"chat.message",data:{text:t,name:p.name}})))});r("#qa-form").addEventListener("submit",s=>{s.preventDefault();const a=r("input",s.target),t=a.value.trim();t&&(a.value="",m(p.room.publish({type:"qa.ask",data:{text:t}})))});function A(s){for(const t of b.querySelectorAll("[data-testid=reaction-count]"))t.textContent=f(s.reactions[t.dataset.emoji]??0);r("[data-testid=reactions-total]").textContent=`${f(s.totals.reactions)} total`;const a=Object.entries(s.reactions).filter(([t])=>!z.includes(t)).sort((t,o)=>o[1]-t[1]).slice(0,8);r("#extra-emoji").innerHTML=a.map(([t,o])=>`<span class="chip">${i(t)} ${f(o)}</span>`).join("")}function E(s){const a=r("#poll"),t=Object.entries(s.polls).filter(([,c])=>!c.closed).sort(([c],[d])=>c<d?-1:1),o=t.length?t[t.length-1]:w(s.polls);if(!o){a.dataset.sig="",a.innerHTML=`<div class="card-head"><h2>Poll</h2></div><p class="empty">No poll yet. Open the <a href="/host${i(location.search)}" target="_blank">host console</a> in another tab and start one: it shows up here and the bars move live.</p>`;return}const[n,e]=o,l=e.votes.reduce((c,d)=>c+d,0),u=M.get(n),h=JSON.stringify([n,e.closed,e.options,u]);if(a.dataset.sig===h){e.options.forEach((c,d)=>{const v=e.votes[d]??0,$=l?Math.round(100*v/l):0,y=a.querySelector(`.option[data-option="${d}"]`);y.querySelector(".bar").style.width=`${$}%`,y.querySelector(".count").innerHTML=`<b data-testid="poll-votes" data-option="${d}">${v}</b> · ${$}%`}),r("[data-testid=poll-total]",a).textContent=String(l);return}a.dataset.sig=h,a.innerHTML=`
    <div class="card-head"><h2>Poll</h2>${e.closed?'<span class="badge">closed</span>':'<span class="badge live">live</span>'}</div>
    <p class="question">${i(e.question)}</p>
    <div class="options">${e.options.map((c,d)=>{const v=e.votes[d]??0,$=l?Math.round(100*v/l):0;return`<button class="option${u===d?" mine":""}" data-action="vote" data-poll="${i(n)}" data-option="${d}" ${e.closed?"disabled":""}>
        <span class="bar" style="width:${$}%"></span>
        <span class="label">${i(c)}</span>
        <span class="count"><b data-testid="poll-votes" data-option="${d}">${v}</b> · ${$}%</span>
      </button>`}).join("")}</div>
    <p class="muted small"><span data-testid="poll-total">${l}</span> votes${u!==void 0?" · you can change your vote":""}</p>`}function O(s){const a=r("#quiz"),t=w(s.quizzes),o=s.leaderboard.length?`<ol class="leaderboard">${s.leaderboard.map((h,c)=>`
        <li class="${h.user===p.user?"me":""}"><span class="rank">${c+1}</span><span class="avatar" style="--h:${j(h.user)}">${i(x(h.user))}</span><span class="who">${i(h.user)}</span><b>${h.score}</b></li>`).join("")}</ol>`:'<p class="empty small">The leaderboard fills up when the host reveals an answer.</p>';if(!t){a.dataset.sig="",a.innerHTML=`<div class="card-head"><h2>Quiz</h2></div><p class="empty">No quiz question yet. The host asks one from the <a href="/host${i(location.search)}" target="_blank">host console</a>.</p><h3>Leaderboard</h3>${o}`;return}const[n,e]=t,l=L.get(n),u=JSON.stringify([n,e.revealed,e.options,l,s.leaderboard]);if(a.dataset.sig===u){r("[data-testid=quiz-answers]",a).textContent=String(e.answers);return}a.dataset.sig=u,a.innerHTML=`
    <div class="card-head"><h2>Quiz</h2>${e.revealed?'<span class="badge">revealed</span>':`<span class="badge live">${e.points} pt${e.points===1?"":"s"}</span>`}</div>
    <p class="question">${i(e.question)}</p>
    <div class="options quiz-options">${e.options.map((h,c)=>`<button class="option ${[l===c?"mine":"",e.revealed&&e.correct===c?"correct":"",e.revealed&&l===c&&e.correct!==c?"wrong":""].join(" ")}" data-action="answer" data-quiz="${i(n)}" data-option="${c}" ${e.revealed||l!==void 0?"disabled":""}><span class="label">${i(h)}</span></button>`).join("")}</div>
    <p class="muted small"><span data-testid="quiz-answers">${e.answers}</span> answers${l!==void 0&&!e.revealed?" · locked in, wait for the reveal":""}</p>
    <h3>Leaderboard</h3>${o}`}function _(s){const a=r("#chat"),t=a.scrollHeight-a.scrollTop-a.clientHeight<40;a.innerHTML=s.chat.length?s.chat.map(o=>`
      <li class="chat-line" data-id="${i(o.id)}">
        <span class="avatar" style="--h:${j(o.user)}">${i(x(o.name||o.user))}</span>
        <div><span class="who">${i(o.name||o.user)}</span><span class="when">${k(o.ts)}</span><p class="text">${i(o.text)}</p></div>
      </li>`).join(""):'<li class="empty">No messages yet. Say hi!</li>',t&&(a.scrollTop=a.scrollHeight),r("[data-testid=chat-total]").textContent=`${f(s.totals.chat)} messages`}function Q(s){const a=Object.entries(s.questions).sort(([n,e],[l,u])=>Number(e.answered)-Number(u.answered)||u.upvotes-e.upvotes||e.ts-u.ts||(n<l?-1:1));r("#qa-count").textContent=`${a.length} question${a.length===1?"":"s"}`;const t=r("#qa"),o=JSON.stringify(a.map(([n,e])=>[n,e.answered,g.has(n)]));if(t.dataset.sig===o){for(const[n,e]of a){const l=t.querySelector(`.qa-item[data-id="${CSS.escape(n)}"] .upvote b`);l&&(l.textContent=String(e.upvotes))}return}t.dataset.sig=o,t.innerHTML=a.length?a.map(([n,e])=>`
      <li class="qa-item${e.answered?" answered":""}" data-id="${i(n)}">
        <button class="upvote${g.has(n)?" mine":""}" data-action="upvote" data-question="${i(n)}" ${g.has(n)||e.answered?"disabled":""} aria-label="upvote">▲<b>${e.upvotes}</b></button>
        <div><p class="text">${i(e.text)}</p><span class="muted small">${i(e.user)}${e.answered?' · <span class="badge ok">answered</span>':""}</span></div>
      </li>`).join(""):'<li class="empty">No questions yet. Ask one — the most upvoted rise to the top.</li>'}function q(s){A(s),E(s),O(s),_(s),Q(s)}N(p,q);
