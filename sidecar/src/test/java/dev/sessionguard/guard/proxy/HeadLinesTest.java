package dev.sessionguard.guard.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpHeader;
import org.junit.jupiter.api.Test;

/** The strict header-line parser knows headers by their bytes as Jetty knows them by name. */
class HeadLinesTest {

  @Test
  void a_header_is_known_from_its_bytes_exactly_when_jetty_knows_its_name() {
    for (HttpHeader header : HttpHeader.values()) {
      String name = header.asString();
      for (String spelling :
          List.of(
              name,
              name.toLowerCase(Locale.ROOT),
              name.toUpperCase(Locale.ROOT),
              name + "x",
              name + "-",
              name.substring(0, name.length() - 1),
              "x" + name)) {
        byte[] bytes = ("~~" + spelling + ":").getBytes(StandardCharsets.ISO_8859_1);
        assertThat(HeadLines.known(bytes, 2, spelling.length()))
            .as(spelling)
            .isSameAs(HttpHeader.CACHE.get(spelling));
      }
    }
  }

  @Test
  void names_are_kept_as_the_client_spelled_them() {
    byte[] head =
        "content-type: a\r\nContent-Type: b\r\nCONTENT-LENGTH: 1\r\nX-Own: c\r\n\r\n"
            .getBytes(StandardCharsets.ISO_8859_1);
    List<HttpField> fields = new ArrayList<>();

    int end =
        HeadLines.parse(
            head,
            0,
            head.length,
            (header, name, value, at) -> fields.add(new HttpField(header, name, value)));

    assertThat(end).isEqualTo(head.length);
    assertThat(fields)
        .extracting(HttpField::getName)
        .containsExactly("content-type", "Content-Type", "CONTENT-LENGTH", "X-Own");
    assertThat(fields)
        .extracting(HttpField::getHeader)
        .containsExactly(
            HttpHeader.CONTENT_TYPE, HttpHeader.CONTENT_TYPE, HttpHeader.CONTENT_LENGTH, null);
    assertThat(fields).extracting(HttpField::getValue).containsExactly("a", "b", "1", "c");
  }

  @Test
  void a_token_is_found_among_the_elements_of_a_list_in_any_case() {
    assertThat(HeadLines.hasToken("close", "close")).isTrue();
    assertThat(HeadLines.hasToken("Keep-Alive, CLOSE", "close")).isTrue();
    assertThat(HeadLines.hasToken(" \tclose\t ,x", "close")).isTrue();
    assertThat(HeadLines.hasToken("x,,close", "close")).isTrue();
    assertThat(HeadLines.hasToken("closed, enclose, clo se", "close")).isFalse();
    assertThat(HeadLines.hasToken("keep-alive", "close")).isFalse();
    assertThat(HeadLines.hasToken("", "close")).isFalse();
    assertThat(HeadLines.hasToken(",", "close")).isFalse();
  }
}
