// Sign and accept: the dialog every signature uses (a quote, the operator's terms, a rental
// contract). The signature is a PNG drawn on a canvas (pointer: mouse, pen, finger). Keyboard users
// (and anyone who prefers) press "Sign with my typed name": the typed name is written onto the
// canvas in a handwriting-style font and that is the drawn signature sent. The record is the same
// either way (typed name, image, who, when, network, browser family, document hash).
import { h } from './dom.js';
import * as ui from './ui.js';

const PAD = { width: 600, height: 200 };
let dialogSeq = 0;

function signaturePad() {
  const canvas = h('canvas', { class: 'signature-pad', width: PAD.width, height: PAD.height, role: 'img',
    'aria-label': 'Signature area: draw your signature with a mouse, pen or finger' });
  const ctx = canvas.getContext('2d');
  let drawing = false;
  let inked = false;
  const at = (event) => {
    const box = canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * (canvas.width / box.width), (event.clientY - box.top) * (canvas.height / box.height)];
  };
  const reset = () => {
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.lineWidth = 2.5;
    ctx.lineCap = 'round';
    ctx.strokeStyle = '#111';
    ctx.fillStyle = '#111';
    inked = false;
  };
  reset();
  canvas.addEventListener('pointerdown', (event) => {
    drawing = true;
    canvas.setPointerCapture(event.pointerId);
    ctx.beginPath();
    ctx.moveTo(...at(event));
    event.preventDefault();
  });
  canvas.addEventListener('pointermove', (event) => {
    if (!drawing) return;
    ctx.lineTo(...at(event));
    ctx.stroke();
    inked = true;
  });
  const stop = () => { drawing = false; };
  canvas.addEventListener('pointerup', stop);
  canvas.addEventListener('pointercancel', stop);
  return {
    canvas,
    clear: reset,
    write(name) {
      reset();
      ctx.font = 'italic 48px "Segoe Script", "Brush Script MT", cursive';
      ctx.textBaseline = 'middle';
      ctx.fillText(name, 20, canvas.height / 2, canvas.width - 40);
      inked = true;
    },
    inked: () => inked,
    png: () => canvas.toDataURL('image/png'),
  };
}

/**
 * The sign dialog. Resolves with the body of a sign request ({full_name, signature_png,
 * document_sha256} and whatever ``extra.collect`` adds), or null when cancelled.
 * options: {title, intro (text or nodes), documentUrl, documentLabel, sha256 (of the document
 * shown), agree (the checkbox's words), submit (the button's words), extra: {node, collect(formEl)}
 * (more fields, e.g. a card: collect returns what to add, or throws an API-style error shown on
 * the form)}.
 */
export function signDialog({ title, intro, documentUrl, documentLabel = 'Read the document (PDF)', sha256, agree,
  submit = 'Sign', extra = null }) {
  return new Promise((resolve) => {
    let result = null;
    const seq = ++dialogSeq;
    const pad = signaturePad();
    const nameId = `sign-name-${seq}`;
    const agreeId = `sign-agree-${seq}`;
    const name = h('input', { id: nameId, name: 'full_name', type: 'text', required: true, maxlength: 200, autocomplete: 'name' });
    const agreeBox = h('input', { id: agreeId, name: 'agree', type: 'checkbox', required: true });
    const alert = h('p', { class: 'form-alert', role: 'alert', hidden: true });
    const say = (text) => {
      alert.textContent = text;
      alert.hidden = false;
    };
    const dlg = h('dialog', { class: 'dialog', 'aria-labelledby': `sign-title-${seq}` });
    const formEl = h('form', { class: 'form', novalidate: true },
      h('p', {}, intro, ' ', h('a', { href: documentUrl, target: '_blank', rel: 'noopener' }, documentLabel)),
      h('p', { class: 'muted' }, `Document fingerprint (SHA-256): ${sha256.slice(0, 16)}…`),
      h('div', { class: 'field' }, h('label', { for: nameId }, 'Your full name'), name),
      h('div', { class: 'field' },
        h('span', { class: 'label' }, 'Your signature'),
        pad.canvas,
        h('div', { class: 'actions' },
          h('button', { type: 'button', onclick: () => {
            if (!name.value.trim()) { say('Type your full name first.'); name.focus(); return; }
            pad.write(name.value.trim());
          } }, 'Sign with my typed name'),
          h('button', { type: 'button', onclick: () => pad.clear() }, 'Clear the signature'))),
      extra?.node || null,
      h('div', { class: 'field checkbox' }, agreeBox, h('label', { for: agreeId }, agree)),
      alert,
      h('div', { class: 'actions' },
        h('button', { type: 'submit', class: 'primary' }, submit),
        h('button', { type: 'button', onclick: () => dlg.close() }, 'Cancel')));
    formEl.addEventListener('submit', (event) => {
      event.preventDefault();
      const problem = !name.value.trim() ? 'Type your full name.'
        : !pad.inked() ? 'Draw your signature, or press "Sign with my typed name".'
          : !agreeBox.checked ? 'Tick the box to confirm.' : null;
      if (problem) { say(problem); return; }
      let more = {};
      if (extra?.collect) {
        try {
          more = extra.collect(formEl) || {};
        } catch (error) {
          ui.showErrors(formEl, error);
          return;
        }
      }
      result = { full_name: name.value.trim(), signature_png: pad.png(), document_sha256: sha256, ...more };
      dlg.close();
    });
    dlg.append(h('h2', { id: `sign-title-${seq}` }, title), formEl);
    dlg.addEventListener('close', () => { resolve(result); dlg.remove(); });
    document.body.append(dlg);
    dlg.showModal();
    name.focus();
  });
}
