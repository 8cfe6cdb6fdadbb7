"""The reports' HTML (Jinja2, autoescaped). Self-contained: styles and charts are inline."""

from __future__ import annotations

STYLE = """<style>
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #1b1b1b; }
table { border-collapse: collapse; margin: .5rem 0 1rem; } th, td { border: 1px solid #ccc; padding: .25rem .5rem; }
.notice { background: #fff3cd; border: 1px solid #e0c36a; padding: .5rem .75rem; }
img { max-width: 100%; }
</style>"""

LEDGER_CHECKPOINT = """{% if ledger.checkpoint %}<p>This report was made from the ledger as of this signed checkpoint
(its Merkle tree of {{ ledger.size }} entries, root {{ ledger.root_hash }}). Anyone can check it, and that any later
checkpoint extends it, without trusting the office: <code>faceledger witness check</code> with the council's copy of
the office's public key.</p>
<pre>{{ ledger.checkpoint }}</pre>
<p>Public key: <code>{{ ledger.public_key }}</code></p>
{% else %}<p>No signed checkpoint could be made for this report: {{ ledger.problem }}</p>{% endif %}"""

ACCOUNTABILITY = (
    """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>faceledger accountability report</title>"""
    + STYLE
    + """</head><body>
<h1>Accountability report</h1>
<p>Generated {{ f.generated_at }}; usage covers the last {{ days }} days. faceledger {{ f.version }}.</p>
<p class="notice">The system supports people's decisions and never makes them: every search result is an
investigative lead, never an identification. Two independent reviewers and a supervisor must agree before a
lead is confirmed, and corroborating evidence is required before it leaves the system.</p>

<h2>1. The system and its model</h2>
<table>
<tr><th scope="row">Model</th><td>{{ f.model.name }} version {{ f.model.version }}</td></tr>
<tr><th scope="row">Weights (SHA-256)</th><td><code>{{ f.model.weights_sha256 }}</code></td></tr>
<tr><th scope="row">Licence</th><td>{{ f.licence }}</td></tr>
</table>
<h3>Capabilities and limits</h3>
<ul>
<li>Finds faces in photos and in frames a person chooses from video, and ranks gallery faces by likeness.</li>
<li>Does not infer race, gender, age or emotion, and does no live or continuous tracking.</li>
<li>Accuracy falls with small, blurred, turned or poorly lit faces; low-quality probes are refused unless a
supervisor records an override with a reason.</li>
<li>Candidates are capped at {{ f.authority.max_candidates or "the authorisation's limit" }} per search and
must lie within the distance threshold {{ f.accuracy.threshold }}.</li>
</ul>

<h2>2. Authorisation and purposes</h2>
<p>State: <strong>{{ f.authority.state }}</strong>{% if f.authority.reference %} — {{ f.authority.reference }},
{{ f.authority.starts_on }} to {{ f.authority.ends_on }}{% endif %}.</p>
<p>Allowed purposes: {{ f.authority.purposes | join(", ") or "none" }}. Offence types:
{{ f.authority.offence_types | join(", ") or "any" }}.</p>
<p>Never allowed, whatever a grant says: {{ f.blocked_purposes | join("; ") }}.</p>

<h2>3. Data inputs</h2>
<p>{{ f.gallery.images }} gallery images, {{ f.gallery.faces }} faces, from these sources:</p>
<table><tr><th scope="col">Source</th><th scope="col">Legal basis</th><th scope="col">Images</th></tr>
{% for s in f.gallery.sources %}<tr><td>{{ s.name }}</td><td>{{ s.legal_basis }}</td><td>{{ s.images }}</td></tr>
{% else %}<tr><td colspan="3">No sources.</td></tr>{% endfor %}</table>

<h2>4. Use and data policies</h2>
<table>{% for what, rule in f.retention.items() %}<tr><th scope="row">{{ what }}</th><td>{{ rule }}</td></tr>{% endfor %}</table>
<p>Opt-out: anyone may ask, with a photo, to be removed; their faces are deleted completely and kept out of
future ingests and results. Requests so far: {% for status, n in f.optouts.items() %}{{ n }} {{ status }}{% if not loop.last %}, {% endif %}{% else %}none{% endfor %}.</p>

<h2>5. Measured accuracy at the deployed threshold</h2>
<p>At distance {{ f.accuracy.threshold }}: false-match rate {{ "%.3f" | format(100 * f.accuracy.fmr_rate) }}%
({{ f.accuracy.fmr }}); false-non-match rate {{ "%.1f" | format(100 * f.accuracy.fnmr) }}%. Measured on
{{ f.accuracy.dataset }} ({{ "{:,}".format(f.accuracy.impostor_pairs) }} impostor and
{{ "{:,}".format(f.accuracy.genuine_pairs) }} genuine pairs).</p>
<p>With {{ "{:,}".format(f.accuracy.gallery_faces) }} faces in the gallery, a search of someone who is not in
it is expected to return about {{ "%.1f" | format(f.accuracy.expected_false_candidates) }} false candidates
within the threshold. This is why every candidate is reviewed by two people.</p>
{% set op = f.accuracy.operating %}
<h3>The operating threshold and its promise</h3>
<p>The threshold is {{ "derived from a promise" if op.mode == "derived" else "fixed by the deployment" }}:
a search for someone who is not in the gallery returns a false candidate in at most
{{ "%.2f" | format(100 * op.target_fpir) }}% of searches (target FPIR), for every demographic group measured
on enough people (95% upper bounds), not just on average. For {{ "{:,}".format(op.gallery_faces) }} gallery
faces the threshold is <strong id="operating-threshold">{{ "%.3f" | format(op.threshold) }}</strong>.
The promise <strong id="operating-promise">{{ "holds" if op.promise_met else "does NOT hold" }}</strong>{% if op.unvouched_groups %}:
it cannot be vouched for {{ op.unvouched_groups | join(", ") }}, measured on too few pairs to bound at this gallery
size, so for them the threshold only keeps the measured rate within it{% elif not op.promise_met and op.mode == "derived" %}:
no measured distance keeps it for a gallery this large, so the threshold is the tightest the data supports{% endif %}.
Worst group: {{ op.worst_group }}, up to {{ "%.2f" | format(100 * op.worst_group_fpir_upper_95) }}% of searches.
Expected false candidates per search: {{ "%.2g" | format(op.expected_false_candidates) }} overall (at most
{{ "%.2g" | format(op.expected_false_candidates_upper_95) }}), {{ "%.2g" | format(op.worst_group_expected_false_candidates) }}
for the worst group.{% if not op.groups %} This calibration table has no per-group counts of enough people yet:
the promise is for the average only.{% endif %}{% if op.ignored_groups %} Groups measured on too few people to steer by: {{ op.ignored_groups | join(", ") }}.{% endif %}</p>
{% if f.accuracy.evaluation %}{% set e = f.accuracy.evaluation %}
<h3>Evaluation on labelled faces (LFW)</h3>
<p>Verification accuracy {{ "%.2f" | format(100 * e.verification.mean_accuracy) }}%.
Demographic labels are used for evaluation only; the product never infers them.</p>
<table><tr><th scope="col">Group</th><th scope="col">People</th><th scope="col">False-match rate (95% interval)</th><th scope="col">False-non-match rate (95% interval)</th></tr>
{% for g in e.groups %}<tr><td>{{ g.attribute }}: {{ g.group }}</td><td>{{ g.people }}</td>
<td>{{ "%.3f" | format(100 * g.fmr.rate) }}% ({{ "%.3f" | format(100 * g.fmr.low_95) }}–{{ "%.3f" | format(100 * g.fmr.high_95) }})</td>
<td>{{ "%.2f" | format(100 * g.fnmr.rate) }}% ({{ "%.2f" | format(100 * g.fnmr.low_95) }}–{{ "%.2f" | format(100 * g.fnmr.high_95) }})</td></tr>{% endfor %}
</table>
{% for attribute, r in e.group_fmr_worst_best_ratio.items() %}<p>{{ attribute }}: the worst group's false-match
rate is {{ r.ratio }} times the best's ({{ r.worst }} vs {{ r.best }}).</p>{% endfor %}
{% else %}<p>No per-group evaluation is attached to this report (run <code>faceledger eval lfw --out DIR</code>
and pass <code>--eval DIR</code>).</p>{% endif %}

<h2>6. Usage</h2>
<p>{{ f.usage.searches }} searches done and {{ f.usage.refused }} refused between {{ f.usage.start[:10] }} and
{{ f.usage.end[:10] }}.</p>
{% for title, png in charts.items() %}<figure><img src="data:image/png;base64,{{ png }}" alt="{{ title }}"><figcaption>{{ title }}</figcaption></figure>{% endfor %}

<h2>7. Violations</h2>
{% if f.violations %}<table><tr><th scope="col">Kind</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Ledger entries</th></tr>
{% for v in f.violations %}<tr><td>{{ v.kind }}</td><td>{{ v.actor }}</td><td>{{ v.summary }}</td><td>{{ v.ledger_seqs | join(", ") }}</td></tr>{% endfor %}
</table>{% else %}<p>None recorded.</p>{% endif %}

<h2>8. Feedback</h2>
<p>Questions, complaints and feedback: {{ f.feedback }}.</p>

<h2>9. The ledger this report was made from</h2>
{% with ledger = f.ledger %}"""
    + LEDGER_CHECKPOINT
    + """{% endwith %}
</body></html>"""
)

USAGE = (
    """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>faceledger usage {{ week }}</title>"""
    + STYLE
    + """</head><body>
<h1>Usage in week {{ week }}</h1>
<p>{{ u.start[:10] }} to {{ u.end[:10] }} (UTC): {{ u.searches }} searches done, {{ u.refused }} refused.
Every result is an investigative lead, never an identification.</p>
{% for title, png in charts.items() %}<h2>By {{ title }}</h2>
<img src="data:image/png;base64,{{ png }}" alt="Searches by {{ title }}">{% endfor %}
<p>The same numbers are in the CSV beside this file.</p>
<h2>The ledger this report was made from</h2>
"""
    + LEDGER_CHECKPOINT
    + """
</body></html>"""
)
