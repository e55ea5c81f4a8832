"""tools/web_demo.py: in headless Chromium, the page segments an uploaded image exactly as PSegPredictor and
overlay_with_legend do; bad input and missing weights are explained."""
import io
import shutil
import socket
import urllib.request

import gradio as gr
import numpy as np
import pytest
from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from conftest import TINY_CONFIG, tiny_cfg
from pseg_d2.engine import PSegPredictor, defaults
from pseg_d2.synthetic import WorldSpec, generate_sample
from pseg_d2.utils.visualize import overlay_with_legend, palette
from pseg_d2.vocabulary import Vocabulary
from test_predictor_demo import BACKGROUND_WORDS, VOCABULARY, load_script

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture
def web_demo():
    return load_script("tools/web_demo.py")


@pytest.fixture
def server(web_demo, weights):
    """The page around a tiny predictor, served in this process on a free port: its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = web_demo.build_app(PSegPredictor(tiny_cfg("MODEL.WEIGHTS", weights)))
    web_demo.launch(app, port, block=False)
    yield f"http://127.0.0.1:{port}/"
    app.close()


@pytest.fixture
def browser():
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("Chromium and chromedriver are not installed (Debian: apt-get install chromium chromium-driver, "
                    "which scripts/install_env.sh runs as root)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    yield driver
    driver.quit()


def replace_text(element, text: str):
    """Types ``text`` over the field's value and leaves the field, as a user does, so the page takes it."""
    element.send_keys(Keys.CONTROL, "a")
    element.send_keys(Keys.BACKSPACE)
    element.send_keys(text)
    element.send_keys(Keys.TAB)


def test_page_segments_an_uploaded_image_like_the_predictor(tmp_path, weights, web_demo, server, browser):
    rgb = generate_sample(WorldSpec(size=64), "val", 0).image
    Image.fromarray(rgb).save(tmp_path / "image.png")
    vocab = Vocabulary.parse(VOCABULARY, background_words=BACKGROUND_WORDS)
    # The page's query: threshold rule and PAMR. A random model scores every pixel alike; a threshold halfway
    # between the lowest and highest best class score splits the image into background and classes.
    rules = ("MODEL.PSEG.TEST.BACKGROUND_RULE", "threshold", "MODEL.PSEG.TEST.PAMR.ENABLED", True)
    reference = PSegPredictor(tiny_cfg("MODEL.WEIGHTS", weights, *rules, "MODEL.PSEG.TEST.BACKGROUND_THRESHOLD", 0.0))
    best = reference(rgb[:, :, ::-1], vocab)["sem_seg"].max(0).values
    threshold = ((best.min() + best.max()) / 2).item()
    reference = PSegPredictor(tiny_cfg("MODEL.WEIGHTS", weights, *rules, "MODEL.PSEG.TEST.BACKGROUND_THRESHOLD", threshold))
    labels = reference(rgb[:, :, ::-1], vocab)["sem_seg"].argmax(0).numpy()
    assert 0 in labels and (labels > 0).any()
    expected = overlay_with_legend(rgb, labels, vocab.classes, palette(len(vocab)), web_demo.MIN_DISPLAY_SIDE / 64)

    browser.get(server)
    wait = WebDriverWait(browser, 60)
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#image input[type=file]"))).send_keys(
        str(tmp_path / "image.png"))
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#image img")))  # uploaded and shown
    browser.find_element(By.CSS_SELECTOR, "#vocabulary textarea").send_keys(VOCABULARY)
    browser.find_element(By.CSS_SELECTOR, "#background-words textarea").send_keys(BACKGROUND_WORDS)
    browser.find_element(By.CSS_SELECTOR, "#background input[value=threshold]").click()
    replace_text(browser.find_element(By.CSS_SELECTOR, "#threshold input"), repr(threshold))
    browser.find_element(By.CSS_SELECTOR, "#pamr input").click()
    browser.find_element(By.ID, "segment").click()

    summary = browser.find_element(By.CSS_SELECTOR, "#summary textarea")
    wait.until(lambda _: summary.get_attribute("value"))
    found = summary.get_attribute("value").split(" (")[0].split(", ")  # classes found, largest first
    shares = np.bincount(labels.ravel(), minlength=len(vocab)) / labels.size
    assert sorted(found) == sorted(f"{vocab.classes[c]} {100 * shares[c]:.1f}%" for c in np.flatnonzero(shares))
    percents = [float(part.rsplit(" ", 1)[1][:-1]) for part in found]
    assert percents == sorted(percents, reverse=True)
    src = browser.find_element(By.CSS_SELECTOR, "#overlay img").get_attribute("src")
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    shown = np.asarray(Image.open(io.BytesIO(no_proxy.open(src, timeout=30).read())).convert("RGB"))
    assert shown.shape == expected.shape and shown.shape[1] == web_demo.MIN_DISPLAY_SIDE
    np.testing.assert_array_equal(shown, expected)

    # Bad input is explained on the page.
    replace_text(browser.find_element(By.CSS_SELECTOR, "#vocabulary textarea"), " ; ,")
    browser.find_element(By.ID, "segment").click()
    wait.until(lambda driver: "The vocabulary is empty" in driver.page_source)


def test_segment_refuses_bad_queries(weights, web_demo):
    predictor = PSegPredictor(tiny_cfg("MODEL.WEIGHTS", weights))
    image = generate_sample(WorldSpec(size=64), "val", 0).image
    query = dict(vocabulary="red, circle", background_words="", background="prompt", threshold=0.5, use_pamr=False)
    for change, message in [
        ({"image": None}, "Upload an image first"),
        ({"vocabulary": "red, red"}, r"more than once: \['red'\]"),
        ({"background": "none", "background_words": "stripes"}, "Background words need a background class"),
        ({"background": "threshold", "threshold": None}, "needs a background threshold"),
        ({"background": "border", "threshold": None}, "border rule needs a background threshold"),
        ({"background": "sky"}, "must be one of"),
    ]:
        with pytest.raises(gr.Error, match=message):
            web_demo.segment(predictor, **{"image": image, **query, **change})
    own = predictor.model.semantic_inference
    inference = web_demo.query_inference(predictor.cfg, "border", 0.3, True)
    assert (type(inference.background).__name__, inference.background.threshold) == ("BorderBackground", 0.3)
    assert inference.pamr is not None
    web_demo.segment(predictor, image, **{**query, "background": "border", "threshold": 0.3})
    assert predictor.model.semantic_inference is own and own.pamr is None  # queries leave the model as it is
    windows = PSegPredictor(tiny_cfg("MODEL.WEIGHTS", weights, "MODEL.PSEG.TEST.SLIDING_WINDOW", 64,
                                     "MODEL.PSEG.TEST.SLIDING_STRIDE", 32))
    with pytest.raises(gr.Error, match="sliding windows"):
        web_demo.segment(windows, image, **{**query, "background": "border"})
    overlay, summary = web_demo.segment(predictor, image, **{**query, "background": "none"})
    assert overlay.shape[1] == web_demo.MIN_DISPLAY_SIDE and "(64 x 64 pixels, " in summary
    assert {part.rsplit(" ", 1)[0] for part in summary.split(" (")[0].split(", ")} <= {"red", "circle"}


def test_web_demo_explains_missing_weights(tmp_path, web_demo, monkeypatch):
    monkeypatch.setattr(defaults, "DEMO_WEIGHTS", str(tmp_path / "model_final.pth"))
    with pytest.raises(SystemExit, match="model_final.pth not found: run `make demo`"):
        web_demo.main(["--config-file", TINY_CONFIG])
    with pytest.raises(SystemExit, match="missing.pth not found: check --config-file"):
        web_demo.main(["--config-file", TINY_CONFIG, "--opts", "MODEL.WEIGHTS", str(tmp_path / "missing.pth")])
