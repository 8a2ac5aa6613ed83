import { assertEquals, assertThrows } from "../assert.ts";
import { createRegistries, REGISTRY_NAMES } from "../../core/registries.ts";
import { Generator } from "../../core/random.ts";

Deno.test("createRegistries: seven empty registries named after their kind", () => {
  const r = createRegistries();
  assertEquals(Object.keys(r), [...REGISTRY_NAMES]);
  for (const name of REGISTRY_NAMES) {
    assertEquals(r[name].kind, name);
    assertEquals(r[name].list(), []);
  }
  // Each call gives independent registries.
  r.models.register("A", () => 1);
  assertEquals(createRegistries().models.list(), []);
});

Deno.test("registry: a duplicate names the owner and how to override", () => {
  const { backbones } = createRegistries();
  backbones.register("D2SwinTransformer", () => "first", { owner: "mask2former" });
  assertThrows(
    () => backbones.register("D2SwinTransformer", () => "second"),
    'backbones: "D2SwinTransformer" is already registered by plugin "mask2former"; pass { override: true }',
  );
  backbones.register("D2SwinTransformer", () => "second", { override: true, owner: "acme" });
  const ctx = { registries: createRegistries(), generator: new Generator(0) };
  assertEquals(backbones.get("D2SwinTransformer")({}, ctx), "second");
  assertEquals(backbones.ownerOf("D2SwinTransformer"), "acme");
});

Deno.test("registry: a miss lists the registered names and the closest one", () => {
  const { decoders } = createRegistries();
  decoders.register("MSDeformAttnPixelDecoder", () => 0);
  decoders.register("DshmpMultiScaleMaskedTransformerDecoder", () => 0);
  const e = assertThrows(
    () => decoders.get("MSDeformAtnPixelDecoder"),
    'no entry named "MSDeformAtnPixelDecoder"',
  );
  assertEquals(
    e.message,
    'decoders: no entry named "MSDeformAtnPixelDecoder". Did you mean "MSDeformAttnPixelDecoder"? ' +
      "Registered: DshmpMultiScaleMaskedTransformerDecoder, MSDeformAttnPixelDecoder",
  );
  assertThrows(() => createRegistries().losses.get("X"), "is the plugin that provides it loaded?");
});
