package dev.sessionguard.guard.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpHeader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The front connection's parser takes only heads every HTTP/1.1 parser frames alike; everything
 * else goes, untouched, to Jetty's.
 */
class FrontHeadTest {
  static final String PLAIN =
      "POST /mcp?x=1 HTTP/1.1\r\nHost: guard:4484\r\nContent-Type: application/json\r\n"
          + "Mcp-Session-Id:  s-1 \r\nContent-Length: 12\r\n\r\n";

  static FrontHead parse(String head) {
    byte[] bytes = head.getBytes(StandardCharsets.ISO_8859_1);
    return FrontHead.parse(bytes, 0, bytes.length, 8192);
  }

  @Test
  void a_plain_post_is_parsed_with_its_headers_as_sent() {
    FrontHead head = parse(PLAIN + "{\"jsonrpc\":1}");

    assertThat(head.pathQuery()).isEqualTo("/mcp?x=1");
    assertThat(head.path()).isEqualTo("/mcp");
    assertThat(head.length()).isEqualTo(12);
    assertThat(head.size()).isEqualTo(PLAIN.length());
    assertThat(head.close()).isFalse();
    assertThat(head.headers().get("mcp-session-id")).isEqualTo("s-1");
    assertThat(head.headers().get("Content-Type")).isEqualTo("application/json");
    assertThat(head.headers().size()).isEqualTo(3); // Content-Length is the length, not a header
    assertThat(head.headers().contains(HttpHeader.CONTENT_LENGTH)).isFalse();
  }

  static FrontHead again(FrontHead last, String head) {
    byte[] bytes = head.getBytes(StandardCharsets.ISO_8859_1);
    return last.again(bytes, 0, bytes.length, 8192);
  }

  /** What a head says, but for what it shares with the heads that repeat it. */
  static List<Object> said(FrontHead head) {
    return List.of(
        head.pathQuery(),
        head.path(),
        head.headers().stream().map(HttpField::toString).toList(),
        head.length(),
        head.close(),
        head.size());
  }

  @Test
  void a_head_repeated_with_another_length_is_the_same_head_with_that_length() {
    FrontHead first = parse(PLAIN);
    String longer = PLAIN.replace("Content-Length: 12", "Content-Length: 123456789");

    FrontHead repeated = again(first, longer + "{\"jsonrpc\":1}");

    assertThat(repeated).isNotNull();
    assertThat(said(repeated)).isEqualTo(said(parse(longer)));
    assertThat(repeated.length()).isEqualTo(123_456_789);
    assertThat(repeated.size()).isEqualTo(longer.length());
    assertThat(repeated.repeat()).isSameAs(first.repeat());
    assertThat(again(first, PLAIN)).isSameAs(first); // the very same head: nothing is made
    assertThat(again(repeated, PLAIN.replace(": 12", ": 0")))
        .extracting(FrontHead::length)
        .isEqualTo(0);
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "Mcp-Session-Id:  s-2 ", // another value
        "Mcp-Session-Id: s-1 ", // the same value, other bytes
        "Content-Length: 1234567890", // more digits than a length may have
        "Content-Length: ", // none
        "Content-Length: 1 2",
        "Content-Length: +12",
      })
  void a_head_that_differs_elsewhere_is_not_a_repeat(String line) {
    String other =
        PLAIN.replace(
            line.startsWith("Mcp") ? "Mcp-Session-Id:  s-1 " : "Content-Length: 12", line);
    assertThat(other).isNotEqualTo(PLAIN);

    assertThat(again(parse(PLAIN), other)).isNull();
  }

  @Test
  void every_prefix_of_a_repeat_is_not_yet_one() {
    FrontHead first = parse(PLAIN);
    byte[] bytes = PLAIN.replace(": 12", ": 4096").getBytes(StandardCharsets.ISO_8859_1);
    for (int cut = 0; cut < bytes.length; cut++) {
      assertThat(first.again(bytes, 0, cut, 8192)).as("cut at %d", cut).isNull();
    }
    assertThat(first.again(bytes, 0, bytes.length, 8192).length()).isEqualTo(4096);
    assertThat(first.again(bytes, 0, bytes.length, bytes.length - 1)).isNull(); // over the limit
  }

  /**
   * Every head one byte away from a parsed one (each byte replaced by each of a few others) is
   * either not taken as a repeat or taken as exactly what parsing it gives.
   */
  @Test
  void a_repeat_is_always_what_parsing_its_bytes_would_give() {
    FrontHead first = parse(PLAIN);
    byte[] plain = PLAIN.getBytes(StandardCharsets.ISO_8859_1);
    int repeats = 0;
    for (int i = 0; i < plain.length; i++) {
      for (byte b : "0179 :\r\nXx-".getBytes(StandardCharsets.ISO_8859_1)) {
        byte[] bytes = plain.clone();
        bytes[i] = b;
        FrontHead repeated = first.again(bytes, 0, bytes.length, 8192);
        if (repeated != null) {
          repeats++;
          FrontHead parsed = FrontHead.parse(bytes, 0, bytes.length, 8192);
          assertThat(said(repeated)).as("byte %d as %c", i, b).isEqualTo(said(parsed));
        }
      }
    }
    assertThat(repeats).isGreaterThanOrEqualTo(8); // the length's two digits, each as 0, 1, 7, 9
  }

  @Test
  void every_prefix_of_a_head_asks_for_more_and_never_guesses() {
    byte[] bytes = PLAIN.getBytes(StandardCharsets.ISO_8859_1);
    for (int cut = 0; cut < bytes.length; cut++) {
      assertThat(FrontHead.parse(bytes, 0, cut, 8192))
          .as("cut at %d", cut)
          .isSameAs(FrontHead.MORE);
    }
    assertThat(FrontHead.parse(bytes, 0, bytes.length, 8192).size()).isEqualTo(bytes.length);
  }

  @Test
  void it_reads_from_an_offset_and_notes_connection_close() {
    String head = PLAIN.replace("Host: guard:4484", "Host: guard\r\nConnection: keep-alive, Close");
    byte[] bytes = ("junk" + head).getBytes(StandardCharsets.ISO_8859_1);

    FrontHead parsed = FrontHead.parse(bytes, 4, bytes.length, 8192);

    assertThat(parsed.close()).isTrue();
    assertThat(parsed.size()).isEqualTo(head.length());
  }

  @Test
  void a_head_longer_than_allowed_is_long_once_its_request_line_is_plain() {
    byte[] bytes = PLAIN.getBytes(StandardCharsets.ISO_8859_1);
    assertThat(FrontHead.parse(bytes, 0, bytes.length, 40)).isSameAs(FrontHead.LONG);
    assertThat(FrontHead.parse(bytes, 0, 39, 40)).isSameAs(FrontHead.MORE);
    assertThat(FrontHead.parse(bytes, 0, bytes.length, 12))
        .as("a target too long is Jetty's to judge (414)")
        .isSameAs(FrontHead.NOT_MINE);
  }

  @ParameterizedTest
  @ValueSource(
      strings = {"guard", "guard:4484", "127.0.0.1:80", "[::1]:4484", "[::1]", "a-b.example.com"})
  void plain_host_values_are_its_own(String host) {
    assertThat(FrontHead.validHost(host)).isTrue();
  }

  @ParameterizedTest
  @ValueSource(
      strings = {"", "g/x", "g:", "g:abc", "g:1234567", "[::1", "[]", "g h", "user@g", ":80"})
  void other_host_values_are_jettys_to_judge(String host) {
    assertThat(FrontHead.validHost(host)).isFalse();
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "GET /mcp HTTP/1.1\r\nHost: g\r\n\r\n",
        "POST /mcp HTTP/1.0\r\nHost: g\r\nContent-Length: 2\r\n\r\n",
        "POST http://g/mcp HTTP/1.1\r\nHost: g\r\nContent-Length: 2\r\n\r\n",
        "POST /mcp HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST /mcp HTTP/1.1\r\nHost: g\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST /mcp HTTP/1.1\r\nHost: g\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n",
        "POST /mcp HTTP/1.1\r\nHost: g\r\nContent-Length: +2\r\n\r\n",
        "POST /mcp HTTP/1.1\r\nHost: g\r\nContent-Length: 2 2\r\n\r\n",
        "POST /mcp HTTP/1.1\r\nHost: g\r\nContent-Length: 9999999999\r\n\r\n",
        "POST /mcp HTTP/1.1\r\nHost: g\r\n\r\n",
        "POST /mcp HTTP/1.1\r\nContent-Length: 2\r\n\r\n",
        "POST /mcp HTTP/1.1\r\nHost: g\r\nHost: h\r\nContent-Length: 2\r\n\r\n",
        "POST /mcp HTTP/1.1\r\nHost: g/x\r\nContent-Length: 2\r\n\r\n",
        "POST /mcp HTTP/1.1\r\nHost: g\r\nX-A: 1\r\n 2\r\nContent-Length: 2\r\n\r\n",
        "POST /mcp HTTP/1.1\r\nHost: g\nContent-Length: 2\r\n\r\n",
        "POST /mcp HTTP/1.1\r\nHost : g\r\nContent-Length: 2\r\n\r\n",
        "POST /mcp HTTP/1.1\r\nHost: g\r\nX-A: caf\u00e9\r\nContent-Length: 2\r\n\r\n",
        "POST /mcp HTTP/1.1\r\nHost: g\r\nX-A: a\u0001b\r\nContent-Length: 2\r\n\r\n",
        "POST /m<c>p HTTP/1.1\r\nHost: g\r\nContent-Length: 2\r\n\r\n",
        "POST /m%zzp HTTP/1.1\r\nHost: g\r\nContent-Length: 2\r\n\r\n",
        "POST /mcp#x HTTP/1.1\r\nHost: g\r\nContent-Length: 2\r\n\r\n",
        "POST  /mcp HTTP/1.1\r\nHost: g\r\nContent-Length: 2\r\n\r\n",
        "POST /mcp HTTP/1.1\r\nHost: g\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n",
        "POST /mcp HTTP/1.1\r\nHost: g\r\nUpgrade: h2c\r\nContent-Length: 2\r\n\r\n",
        "POST /mcp HTTP/1.1\r\nHost: g\r\nX-HTTP-Method-Override: DELETE\r\nContent-Length: 2\r\n\r\n",
        "\r\nPOST /mcp HTTP/1.1\r\nHost: g\r\nContent-Length: 2\r\n\r\n",
        "POST /mcp HTTP/1.1\r\nHost: g\r\nContent-Length: 2\r\n\r\r\n",
      })
  void anything_unusual_is_left_to_jetty(String head) {
    assertThat(parse(head)).isSameAs(FrontHead.NOT_MINE);
  }

  @Test
  void a_request_of_any_method_with_a_declared_body_is_known_whole_in_size() {
    String put = "PUT /upload HTTP/1.1\r\nHost: g\r\ncontent-length: 5\r\n\r\nhello";
    byte[] bytes = put.getBytes(StandardCharsets.ISO_8859_1);

    assertThat(FrontHead.declaredEnd(bytes, 0, bytes.length)).isEqualTo(bytes.length);
    assertThat(FrontHead.declaredEnd(bytes, 0, bytes.length - 6)).isEqualTo(-1);
    for (String head :
        new String[] {
          "GET / HTTP/1.1\r\nHost: g\r\n\r\n",
          "PUT / HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
          "PUT / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
          "PUT / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
        }) {
      byte[] b = head.getBytes(StandardCharsets.ISO_8859_1);
      assertThat(FrontHead.declaredEnd(b, 0, b.length)).as(head).isEqualTo(-1);
    }
  }
}
