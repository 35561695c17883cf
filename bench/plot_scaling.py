#!/usr/bin/env python3
"""Draws the DPDK scaling CSV (workers, tapbeat Mpps, testpmd io Mpps, rx-only Mpps) as
an SVG line chart, with no plotting library needed on the capture host.
    plot_scaling.py IN.csv OUT.svg"""
import csv
import sys

rows = list(csv.DictReader(open(sys.argv[1])))
xs = [int(r["workers"]) for r in rows]
series = [("tapbeat (flows)", "tapbeat_mpps", "#1f77b4"), ("testpmd io-forward", "testpmd_io_mpps", "#ff7f0e"),
          ("testpmd rx-only", "testpmd_rxonly_mpps", "#2ca02c")]
ymax = max(float(r[k]) for r in rows for _, k, _ in series) * 1.1 or 1
W, H, L, B = 640, 400, 60, 50
def px(x): return L + (x - min(xs)) / max(max(xs) - min(xs), 1) * (W - L - 20)
def py(y): return H - B - y / ymax * (H - B - 20)
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
       f'<line x1="{L}" y1="{H-B}" x2="{W-20}" y2="{H-B}" stroke="black"/>',
       f'<line x1="{L}" y1="{H-B}" x2="{L}" y2="20" stroke="black"/>',
       f'<text x="{W/2}" y="{H-10}" text-anchor="middle">worker lcores</text>',
       f'<text x="15" y="{H/2}" transform="rotate(-90 15 {H/2})" text-anchor="middle">Mpps (64-byte frames)</text>']
for x in xs:
    svg.append(f'<text x="{px(x)}" y="{H-B+16}" text-anchor="middle">{x}</text>')
for i in range(6):
    y = ymax * i / 5
    svg.append(f'<text x="{L-6}" y="{py(y)+4}" text-anchor="end">{y:.0f}</text>')
for n, (name, key, color) in enumerate(series):
    pts = " ".join(f"{px(x)},{py(float(r[key]))}" for x, r in zip(xs, rows))
    svg.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{pts}"/>')
    svg.append(f'<text x="{L+10}" y="{30+16*n}" fill="{color}">{name}</text>')
svg.append("</svg>")
open(sys.argv[2], "w").write("\n".join(svg))
