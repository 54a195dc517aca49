"""End to end in a real browser: headless Chromium against `readmission ui` and a running API.

Needs Debian's ``chromium`` (``apt-get install -y chromium``; .ci/run installs it). Screenshots
go to ``test-artifacts/`` (git-ignored).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from readmission import schema
from readmission.config import DATA_CSV, REPO_ROOT
from tests.support import services

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO_ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def ui_url(inference_api: str, service_dir: Path) -> Iterator[str]:
    """`readmission ui` on a free loopback port, calling the running inference API."""
    port = services.free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"API_URL": inference_api, "STREAMLIT_SERVER_PORT": str(port), "LOG_LEVEL": "INFO"}
    with services.running(
        [str(services.VENV_BIN / "readmission"), "ui", "--port", str(port)],
        ready=services.http_ok(url + "/_stcore/health"),
        what="readmission ui (streamlit)",
        timeout=90,
        env=env,
        log_path=service_dir / f"streamlit_{port}.log",
    ):
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        raise RuntimeError("Chromium not found at /usr/bin/chromium: `apt-get install -y chromium` (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser, tmp_path: Path):
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="es-ES")
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


def test_submit_form_and_read_the_risk(page, ui_url):
    page.goto(ui_url)
    page.get_by_text("Riesgo de reingreso hospitalario").first.wait_for()
    diag = page.get_by_role("textbox", name="Diagnóstico principal (CIE-9)")
    diag.fill("250.13")
    diag.press("Enter")
    page.get_by_text("Grupo: Diabetes").first.wait_for()
    page.get_by_role("button", name="Calcular riesgo").click()
    risk = page.locator(".risk-value").first  # one card per outcome: any time, within 30 days
    risk.wait_for()
    text = risk.inner_text()
    match = re.match(r"\s*(\d+(?:\.\d)?)%", text)
    assert match, text
    assert 0 <= float(match.group(1)) <= 100
    assert page.get_by_text("Umbral de decisión").count() >= 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(500)  # let the layout settle before the picture
    page.screenshot(path=str(ARTIFACTS / "ui_patient_risk.png"), full_page=True)


def test_batch_page_scores_a_csv(page, ui_url, tmp_path: Path):
    import gzip

    with gzip.open(DATA_CSV, "rt") as handle:
        lines = [handle.readline() for _ in range(201)]
    csv_path = tmp_path / "patients.csv"
    csv_path.write_text("".join(lines))
    page.goto(ui_url)
    page.get_by_text("Lote (CSV)").click()
    page.locator("input[type=file]").set_input_files(str(csv_path))
    page.get_by_role("button", name="Puntuar archivo").click()
    discharge = lines[0].split(",").index("discharge_disposition_id")
    refused = sum(int(line.split(",")[discharge]) in schema.NOT_READMITTABLE_DISCHARGE_IDS for line in lines[1:])
    page.get_by_text(f"{200 - refused} filas puntuadas, {refused} rechazadas.").wait_for()
    page.get_by_role("button", name="Descargar resultados (CSV)").wait_for()
    page.locator("[data-testid=stDataFrame] canvas").first.wait_for()
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(1500)  # the grid paints its canvas after it is attached
    page.screenshot(path=str(ARTIFACTS / "ui_batch.png"), full_page=True)
