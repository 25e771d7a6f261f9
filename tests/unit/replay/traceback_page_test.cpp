// The traceback page: what it shows, in which order, and that nothing from the request
// or the app can become markup.
#include "replay/traceback_page.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

using namespace hindsight::replay;
namespace json = boost::json;

namespace {

const char* xss = "<script>alert('x')</script><img src=x onerror=\"alert(1)\">&amp;";

json::object model() {
  return json::parse(R"J({
    "type": "KeyError", "module": "builtins", "message": "'<b>EU</b>'", "notes": ["note <i>"],
    "chain": [{"relation": "cause", "type": "ValueError", "module": "builtins", "message": "inner",
               "frames": [{"file": "/app/inner.py", "line": 3, "function": "parse", "app": true,
                           "source": [[3, "raise ValueError('inner')"]], "locals": {}}]}],
    "frames": [
      {"file": "/usr/lib/python3/dist-packages/django/core/handlers/base.py", "line": 181, "function": "_get_response",
       "app": false, "source": [[181, "response = callback(request)"]], "locals": {"secret_lib": "'x'"}},
      {"file": "/app/shop/views.py", "line": 42, "function": "order_total", "app": true,
       "source": [[41, "    region = request.GET['r']"], [42, "    return PRICES[region]"], [43, ""]],
       "locals": {"region": "'<script>'"}}
    ]})J").as_object();
}

}  // namespace

TEST(TracebackPage, escapes_every_markup_character) {
  EXPECT_EQ(html_escape(xss),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;amp;");
  EXPECT_EQ(html_escape("caf\xe9"), "caf\xc3\xa9");        // not UTF-8: read as latin-1
  EXPECT_EQ(html_escape("a\x1b[31mb"), "a\\x1b[31mb");   // control characters shown, not sent
}

TEST(TracebackPage, no_value_becomes_markup) {
  auto m = model();
  m["message"] = xss;
  m["frames"].as_array()[1].as_object()["locals"].as_object()["payload"] = xss;
  m["frames"].as_array()[1].as_object()["function"] = xss;
  m["frames"].as_array()[1].as_object()["file"] = xss;
  auto page = traceback_page(m, {.request_line = std::string("GET /") + xss + " HTTP/1.1", .origin = xss});
  EXPECT_EQ(page.find("<script"), std::string::npos);
  EXPECT_EQ(page.find("<img"), std::string::npos);
  EXPECT_EQ(page.find("onerror=\""), std::string::npos);
  EXPECT_NE(page.find("&lt;script&gt;alert(&#39;x&#39;)"), std::string::npos);
}

TEST(TracebackPage, forbids_scripts_and_remote_resources) {
  auto page = traceback_page(model(), {});
  EXPECT_NE(page.find("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "),
            std::string::npos);
  EXPECT_EQ(std::string(traceback_page_csp()).find("script-src"), std::string::npos);  // none, by default-src
  EXPECT_EQ(page.find("http://"), std::string::npos);
  EXPECT_EQ(page.find("https://"), std::string::npos);
}

TEST(TracebackPage, shows_the_chain_as_python_does_app_frames_open_library_folded) {
  auto page = traceback_page(model(), {.request_line = "GET /orders/7/ HTTP/1.1", .origin = "capture 4, replay 2"});
  auto cause = page.find("ValueError: inner");
  auto link = page.find("The above exception was the direct cause of the following exception:");
  auto library = page.find("<details class=\"library\"><summary>");
  auto app = page.find("<details class=\"app\" open><summary><span class=\"kind\">app</span><span class=\"where\">File "
                       "\"/app/shop/views.py\", line 42");
  auto last = page.find("<div class=\"exception\">KeyError: &#39;&lt;b&gt;EU&lt;/b&gt;&#39;</div>");
  ASSERT_NE(cause, std::string::npos);
  ASSERT_NE(link, std::string::npos);
  ASSERT_NE(library, std::string::npos);
  ASSERT_NE(app, std::string::npos);
  ASSERT_NE(last, std::string::npos);
  EXPECT_LT(cause, link);
  EXPECT_LT(link, library);
  EXPECT_LT(library, app);
  EXPECT_LT(app, last);
  EXPECT_NE(page.find("<span class=\"current\"><i>42</i>    return PRICES[region]</span>"), std::string::npos);
  EXPECT_NE(page.find("<td class=\"name\">region</td><td>&#39;&lt;script&gt;&#39;</td>"), std::string::npos);
  EXPECT_NE(page.find("<div class=\"note\">note &lt;i&gt;</div>"), std::string::npos);
  EXPECT_NE(page.find("<title>KeyError: &#39;&lt;b&gt;EU&lt;/b&gt;&#39; — hindsight</title>"), std::string::npos);
  EXPECT_NE(page.find("<p>GET /orders/7/ HTTP/1.1</p>"), std::string::npos);
}
