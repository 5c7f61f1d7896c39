// The page's behaviour: a drawing pad whose picture is sent to
// POST /api/predict while drawing, a file drop sent to /api/predict/batch,
// and the model card from /api/model. No libraries, nothing from elsewhere.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const pad = $('pad');
  const ink = pad.getContext('2d');
  const result = $('result');
  const widthInput = $('width');

  // ---- drawing -------------------------------------------------------------
  const strokes = []; // {width, points: [[x, y], ...]}
  let current = null;
  let version = 0; // bumped on every change of the drawing

  function paper() {
    ink.fillStyle = '#fff';
    ink.fillRect(0, 0, pad.width, pad.height);
  }

  function dot(x, y, width) {
    ink.fillStyle = '#000';
    ink.beginPath();
    ink.arc(x, y, width / 2, 0, 2 * Math.PI);
    ink.fill();
  }

  function segment(from, to, width) {
    ink.strokeStyle = '#000';
    ink.lineWidth = width;
    ink.lineCap = 'round';
    ink.lineJoin = 'round';
    ink.beginPath();
    ink.moveTo(from[0], from[1]);
    ink.lineTo(to[0], to[1]);
    ink.stroke();
  }

  function drawStroke(stroke) {
    const [first, ...rest] = stroke.points;
    dot(first[0], first[1], stroke.width);
    let last = first;
    for (const p of rest) {
      segment(last, p, stroke.width);
      last = p;
    }
  }

  function redraw() {
    paper();
    strokes.forEach(drawStroke);
  }

  // Canvas pixels under the pointer (the box includes the border; the
  // drawing area starts inside it).
  function at(event) {
    const box = pad.getBoundingClientRect();
    return [
      ((event.clientX - box.left - pad.clientLeft) * pad.width) / pad.clientWidth,
      ((event.clientY - box.top - pad.clientTop) * pad.height) / pad.clientHeight,
    ];
  }

  function changed() {
    version += 1;
    pad.dataset.version = String(version);
    schedule();
  }

  pad.addEventListener('pointerdown', (event) => {
    if (event.button !== 0) return;
    event.preventDefault();
    pad.setPointerCapture(event.pointerId);
    const p = at(event);
    current = { width: Number(widthInput.value), points: [p] };
    strokes.push(current);
    dot(p[0], p[1], current.width);
    changed();
  });

  pad.addEventListener('pointermove', (event) => {
    if (!current) return;
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    for (const e of events.length ? events : [event]) {
      const p = at(e);
      segment(current.points[current.points.length - 1], p, current.width);
      current.points.push(p);
    }
    changed();
  });

  const endStroke = () => {
    if (!current) return;
    current = null;
    changed();
  };
  pad.addEventListener('pointerup', endStroke);
  pad.addEventListener('pointercancel', endStroke);

  function undo() {
    if (!strokes.length) return;
    strokes.pop();
    current = null;
    redraw();
    changed();
  }

  function clear() {
    strokes.length = 0;
    current = null;
    redraw();
    changed();
  }

  $('undo').addEventListener('click', undo);
  $('clear').addEventListener('click', clear);
  document.addEventListener('keydown', (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key === 'z') {
      event.preventDefault();
      undo();
    } else if (event.key === 'Escape') {
      clear();
    }
  });
  widthInput.addEventListener('input', () => {
    $('width-value').textContent = `${widthInput.value} px`;
  });

  // ---- predicting while drawing ---------------------------------------------
  // At most one request in flight; while drawing, a new one goes out at most
  // every PAUSE_MS, and always once more after the last change.
  const PAUSE_MS = 120;
  let timer = null;
  let inFlight = false;
  let shown = 0; // the drawing version the result panel shows

  function busy() {
    result.dataset.busy = inFlight || timer !== null ? '1' : '0';
  }

  function schedule() {
    if (timer === null && !inFlight) {
      timer = setTimeout(send, PAUSE_MS);
    }
    busy();
  }

  function send() {
    timer = null;
    const sent = version;
    if (!strokes.length) {
      showEmpty(sent);
      busy();
      return;
    }
    inFlight = true;
    busy();
    pad.toBlob((blob) => {
      fetch('/api/predict?details=true', {
        method: 'POST',
        headers: { 'Content-Type': 'image/png' },
        body: blob,
      })
        .then((response) => response.json().then((body) => ({ ok: response.ok, body })))
        .then(({ ok, body }) => (ok ? showPrediction(sent, body) : showError(sent, body.error)))
        .catch((error) => showError(sent, `no answer from the server: ${error}`))
        .finally(() => {
          inFlight = false;
          if (version !== sent) schedule();
          busy();
        });
    }, 'image/png');
  }

  // ---- the result panel ------------------------------------------------------
  const bars = $('bars');
  const barFills = [];
  const barValues = [];
  for (let d = 0; d < 10; d += 1) {
    const item = document.createElement('li');
    item.dataset.digit = String(d);
    const label = document.createElement('span');
    label.className = 'label';
    label.textContent = String(d);
    const track = document.createElement('span');
    track.className = 'track';
    const fill = document.createElement('span');
    fill.className = 'fill';
    track.append(fill);
    const value = document.createElement('span');
    value.className = 'value';
    item.append(label, track, value);
    bars.append(item);
    barFills.push(fill);
    barValues.push(value);
  }

  const percent = (p) => `${(p * 100).toFixed(1)}%`;

  function paintSeen(canvas, pixels) {
    const g = canvas.getContext('2d');
    const image = g.createImageData(28, 28);
    for (let i = 0; i < 784; i += 1) {
      const v = pixels ? pixels[i] : 0;
      image.data[4 * i] = v;
      image.data[4 * i + 1] = v;
      image.data[4 * i + 2] = v;
      image.data[4 * i + 3] = 255;
    }
    g.putImageData(image, 0, 0);
  }

  function setBars(probabilities, digit) {
    for (let d = 0; d < 10; d += 1) {
      const p = probabilities ? probabilities[d] : 0;
      barFills[d].style.width = `${Math.max(0, Math.min(1, p)) * 100}%`;
      barValues[d].textContent = probabilities ? percent(p) : '';
      bars.children[d].classList.toggle('top', d === digit);
    }
  }

  function showPrediction(sent, body) {
    if (sent < shown) return;
    shown = sent;
    result.dataset.version = String(sent);
    result.dataset.digit = String(body.digit);
    $('digit').textContent = String(body.digit);
    $('confidence').textContent = percent(body.confidence);
    const others = body.top3.slice(1).map(([d, p]) => `${d} (${percent(p)})`).join(', ');
    $('message').textContent = others ? `then ${others}` : '';
    setBars(body.probabilities, body.digit);
    paintSeen($('seen'), body.input);
    canTeach(true);
  }

  function showError(sent, message) {
    if (sent < shown) return;
    shown = sent;
    result.dataset.version = String(sent);
    delete result.dataset.digit;
    $('digit').textContent = '?';
    $('confidence').textContent = '';
    $('message').textContent = message;
    setBars(null, -1);
    paintSeen($('seen'), null);
    canTeach(false);
  }

  function showEmpty(sent) {
    showError(sent, 'Draw a digit on the pad.');
  }

  // ---- teaching: your own digits ---------------------------------------------
  // The server keeps them when it was started with a samples file (cargo
  // xtask serve does); the next `cargo xtask pipeline` trains on them.
  let teaching = false;
  let saving = false;

  function canTeach(on) {
    $('right').disabled = !teaching || !on || saving;
    $('correct').disabled = !teaching || !on || saving;
  }

  function showCounts(body, said) {
    const taught = $('taught');
    taught.dataset.saved = String(body.saved);
    const mine = Object.entries(body.per_label).filter(([, n]) => n > 0)
      .map(([d, n]) => `${d}: ${n}`).join(', ');
    taught.textContent = `${said ? `${said} ` : ''}${body.saved} of your digits kept${mine ? ` (${mine})` : ''}; `
      + 'the next pipeline run learns from them.';
    $('take-back').disabled = !teaching;
  }

  // Saves `blob` as one of the user's digits labelled `label`; resolves to a
  // line saying what happened.
  async function keep(blob, label) {
    const response = await fetch(`/api/samples?label=${label}`, {
      method: 'POST',
      headers: { 'Content-Type': blob.type || 'application/octet-stream' },
      body: blob,
    });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error);
    showCounts(body, `Kept a ${label}:`);
    return `kept as ${label}`;
  }

  function keepDrawing(label) {
    saving = true;
    canTeach(false);
    pad.toBlob((blob) => {
      keep(blob, label)
        .catch((error) => { $('taught').textContent = `Not kept: ${error.message}`; })
        .finally(() => {
          saving = false;
          $('correct').value = '';
          canTeach(result.dataset.digit !== undefined);
        });
    }, 'image/png');
  }

  $('right').addEventListener('click', () => {
    if (result.dataset.digit !== undefined) keepDrawing(result.dataset.digit);
  });
  $('correct').addEventListener('change', (event) => {
    if (event.target.value !== '') keepDrawing(event.target.value);
  });
  $('take-back').addEventListener('click', () => {
    fetch('/api/samples/last', { method: 'DELETE' })
      .then((response) => response.json().then((body) => ({ ok: response.ok, body })))
      .then(({ ok, body }) => {
        if (ok) showCounts(body, `Took back a ${body.removed.label}:`);
        else $('taught').textContent = body.error;
      })
      .catch((error) => { $('taught').textContent = `no answer from the server: ${error}`; });
  });

  fetch('/api/samples')
    .then((response) => {
      // 404: this server keeps no digits, so the buttons stay hidden.
      if (response.status === 404) return null;
      return response.json().then((body) => ({ ok: response.ok, body }));
    })
    .then((answer) => {
      if (!answer) return;
      $('teach').hidden = false;
      if (!answer.ok) {
        // A damaged file: say so, and keep nothing until it is fixed.
        $('taught').textContent = answer.body.error;
        return;
      }
      teaching = true;
      document.querySelector('.teach-column').hidden = false;
      showCounts(answer.body, '');
      canTeach(result.dataset.digit !== undefined);
    })
    .catch(() => {});

  // A dropped file's row: "Right" keeps it as read, the list as another digit.
  function teachCell(file, digit) {
    const td = document.createElement('td');
    td.className = 'teach-cell';
    if (!teaching) {
      td.hidden = true;
      return td;
    }
    const right = document.createElement('button');
    right.type = 'button';
    right.textContent = 'Right';
    const correct = document.createElement('select');
    correct.setAttribute('aria-label', `${file.name}: it is a`);
    correct.append(new Option('it is a…', ''));
    for (let d = 0; d < 10; d += 1) correct.append(new Option(String(d), String(d)));
    const save = (label) => {
      right.disabled = true;
      correct.disabled = true;
      keep(file, label)
        .then((said) => { td.textContent = said; td.dataset.kept = String(label); })
        .catch((error) => {
          td.textContent = `not kept: ${error.message}`;
        });
    };
    right.addEventListener('click', () => save(digit));
    correct.addEventListener('change', () => { if (correct.value !== '') save(correct.value); });
    td.append(right, correct);
    return td;
  }

  // ---- image files -----------------------------------------------------------
  const rows = document.querySelector('#file-results tbody');
  const table = $('file-results');
  const BATCH_FILES = 50; // files per request, well under the server's limit of 100
  const BATCH_BYTES = 8 * 1024 * 1024; // bytes per request, under the server's 10 MB body limit

  // The files in runs of at most BATCH_FILES files and BATCH_BYTES bytes, in
  // order; a file larger than BATCH_BYTES goes alone (and gets the server's
  // answer about its size).
  function batches(list) {
    const runs = [];
    let run = [];
    let bytes = 0;
    for (const file of list) {
      if (run.length > 0 && (run.length === BATCH_FILES || bytes + file.size > BATCH_BYTES)) {
        runs.push(run);
        run = [];
        bytes = 0;
      }
      run.push(file);
      bytes += file.size;
    }
    if (run.length > 0) runs.push(run);
    return runs;
  }

  function cell(text, className) {
    const td = document.createElement('td');
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function addRow(answer, file) {
    const tr = document.createElement('tr');
    tr.dataset.file = answer.file;
    tr.append(cell(answer.file, 'name'));
    if (answer.error !== undefined) {
      tr.classList.add('error');
      const td = cell(answer.error, 'error');
      td.colSpan = 4;
      tr.append(td);
    } else {
      tr.dataset.digit = String(answer.digit);
      const seen = document.createElement('canvas');
      seen.width = 28;
      seen.height = 28;
      seen.className = 'thumb';
      paintSeen(seen, answer.input);
      const td = document.createElement('td');
      td.append(seen);
      tr.append(td, cell(String(answer.digit), 'digit-cell'), cell(percent(answer.confidence)));
      tr.append(cell(answer.top3.map(([d, p]) => `${d} ${percent(p)}`).join(', ')));
      if (file) tr.append(teachCell(file, answer.digit));
    }
    rows.prepend(tr);
    table.dataset.count = String(rows.children.length);
  }

  async function upload(files) {
    for (const chunk of batches(Array.from(files))) {
      const form = new FormData();
      chunk.forEach((file) => form.append('file', file, file.name));
      try {
        const response = await fetch('/api/predict/batch?details=true', { method: 'POST', body: form });
        const body = await response.json();
        if (Array.isArray(body)) {
          body.forEach((answer, i) => addRow(answer, chunk[i]));
        } else {
          chunk.forEach((file) => addRow({ file: file.name, error: body.error }));
        }
      } catch (error) {
        chunk.forEach((file) => addRow({ file: file.name, error: `no answer from the server: ${error}` }));
      }
    }
  }

  const drop = $('drop');
  $('files').addEventListener('change', (event) => {
    upload(event.target.files);
    event.target.value = '';
  });
  ['dragenter', 'dragover'].forEach((type) =>
    drop.addEventListener(type, (event) => {
      event.preventDefault();
      drop.classList.add('over');
    }),
  );
  ['dragleave', 'drop'].forEach((type) =>
    drop.addEventListener(type, () => drop.classList.remove('over')),
  );
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length) upload(event.dataTransfer.files);
  });
  // A file dropped next to the zone must not make the browser leave the page.
  window.addEventListener('dragover', (event) => event.preventDefault());
  window.addEventListener('drop', (event) => event.preventDefault());

  // ---- the model card --------------------------------------------------------
  function term(dl, name, value) {
    if (value === null || value === undefined || value === '') return;
    const dt = document.createElement('dt');
    dt.textContent = name;
    const dd = document.createElement('dd');
    if (Array.isArray(value)) {
      const list = document.createElement('ul');
      value.forEach((line) => {
        const li = document.createElement('li');
        li.textContent = line;
        list.append(li);
      });
      dd.append(list);
    } else {
      dd.textContent = value;
    }
    dl.append(dt, dd);
  }

  function showCard(card) {
    const dl = $('card');
    dl.textContent = '';
    term(dl, 'test accuracy', card.test_accuracy == null ? 'not evaluated' : percent(card.test_accuracy));
    term(dl, 'network', card.architecture_name == null ? null
      : `${card.architecture_name}${card.kernels ? ` (trained on the ${card.kernels} kernels)` : ''}`);
    term(dl, 'parameters', card.parameters == null ? null : card.parameters.toLocaleString('en'));
    term(dl, 'architecture', card.architecture);
    if (card.data) {
      const split = ` (${card.data.train_rows} train, ${card.data.test_rows} test rows)`;
      term(dl, 'data', `${card.data.source}${split}`);
    }
    term(dl, 'data sha256', card.data_sha256 ? `${card.data_sha256.slice(0, 16)}…` : null);
    if (card.best_val_accuracy != null) {
      term(dl, 'validation accuracy',
        `${percent(card.best_val_accuracy)} (epoch ${card.best_epoch} of ${card.epochs_trained})`);
    }
    if (card.user_samples) {
      term(dl, 'your digits', `learned from ${card.user_samples}`
        + (card.user_test_accuracy == null ? '' : `; ${percent(card.user_test_accuracy)} of your held-out ones read right`));
    }
    term(dl, 'trained', card.trained_at ? new Date(card.trained_at).toLocaleString() : null);
    term(dl, 'weights', card.weights);
    const notes = $('card-notes');
    notes.textContent = '';
    (card.notes || []).forEach((note) => {
      const li = document.createElement('li');
      li.textContent = note;
      notes.append(li);
    });
    const link = $('report-link');
    if (card.report) {
      link.href = card.report;
      link.hidden = false;
    }
  }

  function loadCard() {
    fetch('/api/model')
      .then((response) => response.json())
      .then(showCard)
      .catch((error) => {
        $('card').textContent = `cannot load the model card: ${error}`;
      });
  }
  loadCard();

  // ---- retraining --------------------------------------------------------------
  // The server runs the pipeline (the same runner and lock as `cargo xtask
  // pipeline`) and swaps in the new model when it succeeds; the page polls
  // its progress.
  const POLL_MS = 500;
  let lastState = null;

  function showRetrain(status) {
    const line = $('retrain-status');
    line.dataset.state = status.state;
    line.dataset.runs = String(status.runs);
    const bar = $('retrain-progress');
    $('retrain').disabled = status.state === 'running';
    if (status.state === 'running') {
      bar.hidden = false;
      if (status.epoch) {
        bar.max = status.epoch.of;
        bar.value = status.epoch.done;
        line.textContent = `Retraining: epoch ${status.epoch.done} of ${status.epoch.of}, `
          + `validation accuracy ${percent(status.epoch.val_accuracy)}`;
      } else {
        bar.removeAttribute('value');
        const last = status.lines[status.lines.length - 1];
        line.textContent = `Retraining${last ? `: ${last}` : '…'}`;
      }
      setTimeout(pollRetrain, POLL_MS);
    } else {
      bar.hidden = true;
      if (status.state === 'succeeded') {
        line.textContent = `Done in ${Math.round(status.seconds)} s: ${status.message}.`;
        if (lastState === 'running') loadCard();
      } else if (status.state === 'failed') {
        line.textContent = `Retraining failed; the old model serves on. ${status.message}`;
      }
    }
    lastState = status.state;
  }

  function pollRetrain() {
    fetch('/api/retrain')
      .then((response) => response.json())
      .then(showRetrain)
      .catch((error) => { $('retrain-status').textContent = `no answer from the server: ${error}`; });
  }

  $('retrain').addEventListener('click', () => {
    $('retrain').disabled = true;
    fetch('/api/retrain', { method: 'POST' })
      .then((response) => response.json())
      .then((status) => { lastState = 'running'; showRetrain(status); })
      .catch((error) => {
        $('retrain').disabled = false;
        $('retrain-status').textContent = `no answer from the server: ${error}`;
      });
  });

  fetch('/api/retrain')
    .then((response) => (response.ok ? response.json() : null))
    .then((status) => {
      if (!status) return;
      $('retrain-box').hidden = false;
      showRetrain(status);
    })
    .catch(() => {});

  paper();
  showEmpty(0);
  setBars(null, -1);
})();
