//! The page's only stylesheet, inlined: screen first, then `@media print`
//! (A4, black on white, no page break inside a row, figure or chart).

/// The stylesheet. Contains no `url(` and no `@import`: nothing is loaded.
pub(crate) const CSS: &str = r#"
:root{--ink:#1d1d1f;--muted:#5f6368;--line:#d9d9d9;--bg:#f6f7f9;--ok:#1e6b35;--ok-bg:#e6f4ea;--bad:#b3261e;--bad-bg:#fce8e6;--bar:#2f5d8a}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--ink);background:#fff}
header,main,footer{max-width:1100px;margin:0 auto;padding:0 24px}
header{padding-top:24px;border-bottom:2px solid var(--ink)}
h1{margin:0 0 8px;font-size:28px}
h2{margin:32px 0 12px;font-size:21px;border-bottom:1px solid var(--line);padding-bottom:4px}
h3{margin:20px 0 8px;font-size:17px}
.muted{color:var(--muted);font-weight:normal;font-size:14px}
code{font:13px/1.3 ui-monospace,"DejaVu Sans Mono",monospace;word-break:break-all}
code.fixed{word-break:normal;white-space:nowrap}
dl.pairs{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:12px 0}
dl.pairs dt{font-weight:600;color:var(--muted)}
dl.pairs dd{margin:0;min-width:0}
.banner{margin:20px 0;padding:12px 18px;border-radius:6px;border:2px solid}
.banner h2{margin:0 0 4px;border:0;padding:0}
.banner p{margin:0}
.banner.ok{color:var(--ok);background:var(--ok-bg);border-color:var(--ok)}
.banner.bad{color:var(--bad);background:var(--bad-bg);border-color:var(--bad)}
dl.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px;margin:16px 0}
.figure{background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:8px 12px}
.figure dt{font-size:13px;color:var(--muted)}
.figure dd{margin:2px 0 0;font-size:24px;font-weight:700;font-variant-numeric:tabular-nums}
.figure.alert{border-color:var(--bad);background:var(--bad-bg)}
.figure.alert dd{color:var(--bad)}
nav ol{margin:8px 0;padding-left:20px;columns:2}
nav a{color:var(--bar)}
table{border-collapse:collapse;width:100%;margin:8px 0 16px;font-size:14px}
caption{text-align:left;font-weight:600;color:var(--muted);padding:4px 0}
th,td{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
thead th{background:var(--bg)}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.time{white-space:nowrap}
.action{display:inline-block;padding:0 6px;border-radius:4px;font-size:13px;background:var(--bg);border:1px solid var(--line)}
.action-encrypt{background:#e8f0fe;border-color:#8ab4f8}
.action-pseudonymize{background:#f3e8fd;border-color:#c58af9}
.action-redact{background:#fce8e6;border-color:#f28b82}
.action-generalize,.action-shift{background:#fef7e0;border-color:#fdd663}
.action-keep{background:#fff}
.empty{color:var(--muted);font-style:italic}
figure{margin:12px 0 20px}
figcaption{font-size:13px;color:var(--muted)}
svg.chart{display:block;width:100%;height:auto}
.key{display:inline-block;width:12px;height:12px;background:var(--bar);vertical-align:middle;margin-left:8px}
.key-alert{background:var(--bad);margin-left:0}
footer{margin-top:32px;padding-top:12px;padding-bottom:32px;border-top:1px solid var(--line);color:var(--muted);font-size:13px}
@media print{
@page{size:A4;margin:14mm}
body{font-size:10pt}
header,main,footer{max-width:none;padding:0}
nav{display:none}
h2{break-after:avoid;page-break-after:avoid}
tr,figure,.banner,.figure,dl.pairs{break-inside:avoid;page-break-inside:avoid}
table{font-size:9pt}
.banner,.figure,.figure.alert,.action,.key,svg.chart{-webkit-print-color-adjust:exact;print-color-adjust:exact}
a{color:inherit;text-decoration:none}
}
"#;
