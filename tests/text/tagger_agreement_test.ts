// The wink tagger against the spaCy en_core_web_sm tags written in
// tests/fixtures/text/mevis_style_expressions.json: word spans, tags, motion/static classes and the
// resulting decoupling maps. The measured agreement is printed; the asserted floors guard against a
// regression (a change of tagger or of the offset rebuilding), they are not the measurement.
import { assertEquals } from "../assert.ts";
import { buildSmallBpeTokenizer, ByteLevelBpeTokenizer } from "../../core/text/mod.ts";
import { decouplingMaps, loadWinkTagger, tagAgreement } from "../../plugins/dshmp/text/mod.ts";
import { loadExpressions, referenceTagger, referenceWords } from "./fixture_tagger.ts";

const expressions = await loadExpressions();
const spacy = referenceTagger(expressions);
const vocabWords = [...new Set(expressions.flatMap((e) => referenceWords(e).map((w) => w.text)))];
const small = ByteLevelBpeTokenizer.fromJson(buildSmallBpeTokenizer(vocabWords), "small");

Deno.test("fixture: ~60 expressions whose motion/static sets follow their spaCy tags", () => {
  assertEquals(expressions.length >= 60, true);
  for (const e of expressions) {
    const ref = referenceWords(e);
    assertEquals(e.motion, ref.filter((w) => w.pos === "VERB" || w.pos === "ADV").map((w) => w.text), e.text);
    assertEquals(e.static, ref.filter((w) => w.pos !== "VERB" && w.pos !== "ADV").map((w) => w.text), e.text);
    for (const u of e.uncertain) assertEquals(ref.some((w) => w.text === u), true, `${e.text}: ${u}`);
  }
});

Deno.test("wink vs spaCy (written) tags on MeViS-style expressions: agreement report", async () => {
  const rows: string[] = [];
  const measured: Record<string, { tag: number; cls: number; sureCls: number; maps: number }> = {};
  for (const motionFixes of [false, true]) {
    const wink = await loadWinkTagger({ motionFixes });
    let words = 0, sameSpan = 0, sameTag = 0, sameClass = 0, sure = 0, sureClass = 0, sameMaps = 0;
    for (const e of expressions) {
      const ref = referenceWords(e);
      const got = wink.tag(e.text);
      for (const w of got) assertEquals(e.text.slice(w.start, w.end), w.text, e.text); // spans are exact
      const a = tagAgreement(ref, got);
      words += a.words, sameSpan += a.sameSpan, sameTag += a.sameTag, sameClass += a.sameClass;
      const confident = ref.filter((w) => !e.uncertain.includes(w.text));
      const c = tagAgreement(confident, got);
      sure += c.words, sureClass += c.sameClass;
      const m1 = decouplingMaps(e.text, small, spacy), m2 = decouplingMaps(e.text, small, wink);
      const same = m1.motion.every((v, i) => v === m2.motion[i]) &&
        m1.static.every((v, i) => v === m2.static[i]);
      if (same) sameMaps++;
      if (!motionFixes) rows.push(...a.differences.map((d) => `  ${e.text.slice(0, 40).padEnd(40)} ${d}`));
    }
    const key = motionFixes ? "motionFixes" : "wink";
    measured[key] = {
      tag: sameTag / words,
      cls: sameClass / words,
      sureCls: sureClass / sure,
      maps: sameMaps / expressions.length,
    };
    console.log(
      `${key}: ${words} words, same span ${sameSpan}, same tag ${sameTag} (${
        (100 * sameTag / words).toFixed(1)
      }%), ` +
        `same motion/static class ${sameClass} (${(100 * sameClass / words).toFixed(1)}%; ` +
        `${(100 * sureClass / sure).toFixed(1)}% of the ${sure} confident words), identical maps in ` +
        `${sameMaps}/${expressions.length} expressions`,
    );
  }
  console.log(`differences without fixes (spaCy -> wink):\n${rows.join("\n")}`);
  // Floors (see the header comment): wink alone keeps at least 90% of the motion/static decisions,
  // and the optional fixes do not lose agreement.
  assertEquals(measured.wink.cls >= 0.9, true);
  assertEquals(measured.wink.tag >= 0.85, true);
  assertEquals(measured.motionFixes.cls >= measured.wink.cls, true);
  assertEquals(measured.motionFixes.maps >= measured.wink.maps, true);
});
