import Foundation
import MiniServe
import TestSupport
import Testing

/// Drives the chat page in headless Chromium through Selenium and prints what it saw as JSON.
private let pageScript = #"""
  import json, sys, time
  from selenium import webdriver
  from selenium.webdriver.chrome.service import Service
  from selenium.webdriver.common.by import By
  from selenium.webdriver.support.ui import WebDriverWait

  port = sys.argv[1]
  options = webdriver.ChromeOptions()
  options.binary_location = "/usr/bin/chromium"
  for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]:
      options.add_argument(flag)
  options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
  driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
  out = {}
  try:
      wait = WebDriverWait(driver, 120)
      driver.get(f"http://127.0.0.1:{port}/")
      wait.until(lambda d: d.find_element(By.ID, "model").text != "")
      out["model"] = driver.find_element(By.ID, "model").text
      send, stop = driver.find_element(By.ID, "send"), driver.find_element(By.ID, "stop")
      def assistants():
          return driver.find_elements(By.CSS_SELECTOR, "#log .assistant")

      tokens = driver.find_element(By.ID, "max-tokens")
      tokens.clear()
      tokens.send_keys("24")
      hostile = "hello <script>window.injected=1</script><img src=x onerror=\"window.injected=2\">"
      driver.find_element(By.ID, "input").send_keys(hostile)
      send.click()
      wait.until(lambda d: send.is_enabled() and len(assistants()) == 1)
      out["user_text"] = driver.find_element(By.CSS_SELECTOR, "#log .user").text
      out["reply"] = assistants()[0].text
      out["injected"] = driver.execute_script("return window.injected === undefined ? null : window.injected")
      out["elements"] = len(driver.find_elements(By.CSS_SELECTOR, "#log script, #log img"))

      # A long second turn, stopped while it streams.
      tokens.clear()
      tokens.send_keys("1500")
      driver.find_element(By.ID, "input").send_keys("again")
      send.click()
      # Polled closely, so the stop lands while the reply streams (it takes well under a
      # second on a fast machine).
      WebDriverWait(driver, 120, poll_frequency=0.01).until(
          lambda d: len(assistants()) == 2 and (assistants()[1].text.strip() != "" or send.is_enabled()))
      out["streaming_when_stopped"] = stop.is_enabled()
      if stop.is_enabled():
          stop.click()
      wait.until(lambda d: send.is_enabled())
      out["second"] = assistants()[1].text
      out["bubbles"] = len(driver.find_elements(By.CSS_SELECTOR, "#log .msg"))

      driver.find_element(By.ID, "new-chat").click()
      out["after_new_chat"] = len(driver.find_elements(By.CSS_SELECTOR, "#log .msg"))
      out["console"] = [entry["message"] for entry in driver.get_log("browser")
                        if entry["level"] in ("SEVERE", "WARNING")]
  finally:
      driver.quit()
  print(json.dumps(out))
  """#

@Suite("MiniServer: the chat page in a browser", .serialized)
struct ChatPageTests {
  @Test(
    "type, stream, stop, new chat; markup shown as text; no console errors",
    .requires(
      .all(
        .python("selenium"), .tool("chromium", package: "chromium"),
        .tool("chromedriver", package: "chromium-driver"))))
  func chatPageInHeadlessChromium() async throws {
    let python = try PythonRunner.requirePeers(importing: ["selenium"])
    try Requirement.tool("chromedriver", package: "chromium-driver").check()
    let server = try await TestServer.start()
    defer { Task { await server.stop() } }
    let port = server.port
    let output = try await blocking { try python.run(["-c", pageScript, String(port)]).get() }
    let seen = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
    #expect(seen["model"] as? String == "· tiny")
    #expect(
      seen["user_text"] as? String
        == "hello <script>window.injected=1</script><img src=x onerror=\"window.injected=2\">")
    #expect(seen["injected"] is NSNull)
    #expect(seen["elements"] as? Int == 0)
    let reply = try #require(seen["reply"] as? String)
    #expect(!reply.isEmpty)
    if seen["streaming_when_stopped"] as? Bool == true {
      // Stopped, unless the random model ended the reply itself (a stop token) before the
      // click landed; a reply that ran to its length would mean the stop did nothing.
      let second = seen["second"] as? String ?? ""
      #expect(second.hasSuffix("stopped") || second.hasSuffix(" · stop"), "\(second)")
    }
    #expect(seen["bubbles"] as? Int == 4)
    #expect(seen["after_new_chat"] as? Int == 0)
    #expect((seen["console"] as? [String])?.isEmpty == true, "\(seen["console"] ?? "")")
  }
}
