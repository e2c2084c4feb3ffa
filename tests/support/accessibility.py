"""axe-core in the page: the accessibility check every browser test runs on every page it visits.

axe comes from npm (``axe-core``, pinned in package-lock.json). The web service's
Content-Security-Policy forbids inline scripts, and ``page.add_script_tag`` would add axe as one,
so the source is evaluated through the DevTools protocol instead (``page.evaluate``), which the
page's CSP does not govern: the page under test keeps its real policy.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from playwright.sync_api import Page

from common.config import PROJECT_ROOT

AXE_SCRIPT = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING_IMPACTS = ("serious", "critical")


@cache
def axe_source() -> str:
    return AXE_SCRIPT.read_text(encoding="utf-8")


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe's violations on the page as it is now (all rules axe runs by default)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # Wrapped in a function so that axe's UMD prologue sees a plain browser (no `module`).
        page.evaluate(f"() => {{ {axe_source()}\n}}")
    return page.evaluate(
        """async () => {
            const results = await window.axe.run(document, {resultTypes: ['violations']});
            return results.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                nodes: v.nodes.map(n => ({target: n.target.join(' '), summary: n.failureSummary})),
            }));
        }"""
    )


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"[{violation['impact']}] {violation['id']}: {violation['help']}")
        lines.append(f"    {violation['helpUrl']}")
        for node in violation["nodes"][:5]:
            summary = " ".join((node["summary"] or "").split())
            lines.append(f"    at {node['target']}: {summary}")
        if len(violation["nodes"]) > 5:
            lines.append(f"    ... and {len(violation['nodes']) - 5} more elements")
    return "\n".join(lines)


def assert_accessible(page: Page, where: str = "") -> None:
    """No violation of serious or critical impact (WCAG 2.2 AA and axe's best practices)."""
    blocking = [v for v in axe_violations(page) if v["impact"] in BLOCKING_IMPACTS]
    assert not blocking, (
        f"axe: {len(blocking)} serious/critical violation(s) on {where or page.url}:\n"
        + describe(blocking)
    )
