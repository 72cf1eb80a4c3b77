import { describe, expect, it } from "vitest";
import { GoAny, GoMap, compareGoStrings, goJsonMarshal, goJsonString } from "../../../src/platform/files/go-json.js";

describe("goJsonString", () => {
  it("escapes <, > and & like Go's HTML-safe encoder", () => {
    expect(goJsonString("a<b>&c")).toBe('"a\\u003cb\\u003e\\u0026c"');
  });

  it("escapes U+2028 and U+2029", () => {
    expect(goJsonString("x\u2028y\u2029z")).toBe('"x\\u2028y\\u2029z"');
  });

  it("uses Go's short escapes and lowercase \\u00XX for other control characters", () => {
    expect(goJsonString('q"b\\\n\r\t\b\f\u0001\u001f')).toBe('"q\\"b\\\\\\n\\r\\t\\b\\f\\u0001\\u001f"');
  });

  it("leaves DEL and non-ASCII text unescaped, and writes lone surrogates as \\ufffd", () => {
    expect(goJsonString("\u007fé😀")).toBe('"\u007fé😀"');
    expect(goJsonString("a\ud800b")).toBe('"a\\ufffdb"');
  });
});

describe("goJsonMarshal", () => {
  it("keeps struct fields in insertion order and omits undefined ones", () => {
    expect(goJsonMarshal({ z: 1, a: undefined, m: "x", b: null })).toBe('{"z":1,"m":"x","b":null}');
  });

  it("sorts Go map keys but not struct fields inside them", () => {
    const value = new GoMap({ node: { sha: "s", data: null }, aaa: { sha: "t", data: null } });
    expect(goJsonMarshal(value)).toBe('{"aaa":{"sha":"t","data":null},"node":{"sha":"s","data":null}}');
  });

  it("sorts arbitrary data recursively and keeps array order", () => {
    const data = { zeta: { y: 1, b: [3, 1, { q: true, c: false }] }, alpha: "a" };
    expect(goJsonMarshal(new GoAny(data))).toBe('{"alpha":"a","zeta":{"b":[3,1,{"c":false,"q":true}],"y":1}}');
  });

  it("sorts keys by UTF-8 byte order, not UTF-16 code units", () => {
    // In UTF-16 the emoji (0xD83D…) sorts before U+FF5E; in UTF-8 bytes (Go) it sorts after.
    const keys = ["\uff5e", "\u{1f600}", "a"].sort(compareGoStrings);
    expect(keys).toEqual(["a", "\uff5e", "\u{1f600}"]);
    expect(goJsonMarshal(new GoAny({ "\u{1f600}": 1, "\uff5e": 2 }))).toBe('{"\uff5e":2,"\u{1f600}":1}');
  });

  it("writes numbers the way Go formats float64 and int64", () => {
    expect(goJsonMarshal([3, 1.5, 1e21, 1e-7, 123456789012, -0.25])).toBe("[3,1.5,1e+21,1e-7,123456789012,-0.25]");
    expect(() => goJsonMarshal(Number.NaN)).toThrow(/unsupported value/);
  });

  it("writes dates in arbitrary data as RFC 3339 strings like Go's time.Time", () => {
    expect(goJsonMarshal(new GoAny({ at: new Date("2024-01-02T03:04:05Z") }))).toBe('{"at":"2024-01-02T03:04:05Z"}');
    expect(goJsonMarshal(new GoAny([new Date("2024-01-02T03:04:05.120Z")]))).toBe('["2024-01-02T03:04:05.12Z"]');
  });

  it("escapes map keys as well as values", () => {
    expect(goJsonMarshal(new GoAny({ "<k>": "&" }))).toBe('{"\\u003ck\\u003e":"\\u0026"}');
  });
});
