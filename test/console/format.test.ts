import { expect } from "chai";

import { csvField, toCsv } from "../../console/src/dashboard/csv.js";
import { dailyFigures, fractionOf } from "../../console/src/dashboard/overview.js";
import { decimalsOf, durationParts, formatMinorUnits, parseMajorUnits } from "../../console/src/format.js";
import { CATALOGUES, en, translate, zhCN } from "../../console/src/i18n/messages.js";

describe("console: amounts in yuan from minor units", function () {
  it("writes fen as yuan with every digit and thousands grouped", function () {
    expect(formatMinorUnits("123456", 2, "CNY")).to.equal("¥1,234.56");
    expect(formatMinorUnits("1", 2, "CNY")).to.equal("¥0.01");
    expect(formatMinorUnits("10", 2, "CNY")).to.equal("¥0.10");
    expect(formatMinorUnits("0", 2, "CNY")).to.equal("¥0.00");
    expect(formatMinorUnits("100000000", 2, "CNY")).to.equal("¥1,000,000.00");
    expect(formatMinorUnits(-250n, 2, "CNY")).to.equal("-¥2.50");
    expect(formatMinorUnits("007", 2)).to.equal("0.07");
    expect(formatMinorUnits("5", 0, "XYZ")).to.equal("5 XYZ");
  });

  it("keeps amounts no float can hold exactly (up to 2^96 - 1 minor units)", function () {
    const max = ((1n << 96n) - 1n).toString();
    expect(max).to.equal("79228162514264337593543950335");
    expect(formatMinorUnits(max, 2, "CNY")).to.equal("¥792,281,625,142,643,375,935,439,503.35");
    // Through a float the last digits would be lost: 9007199254740993 fen is not a double.
    expect(formatMinorUnits("9007199254740993", 2, "CNY")).to.equal("¥90,071,992,547,409.93");
  });

  it("refuses what is not an integer amount", function () {
    for (const bad of ["1.5", "", "1e3", "abc", "0x10", " - 1"]) expect(() => formatMinorUnits(bad, 2), bad).to.throw(RangeError);
  });

  it("names periods by their largest whole unit", function () {
    expect(durationParts(604_800)).to.deep.equal({ unit: "day", count: 7 });
    expect(durationParts(7_200)).to.deep.equal({ unit: "hour", count: 2 });
    expect(durationParts(90)).to.deep.equal({ unit: "second", count: 90 });
  });
});

describe("console: message catalogue", function () {
  it("has every English message in Chinese, with the same placeholders", function () {
    expect(Object.keys(zhCN).sort()).to.deep.equal(Object.keys(en).sort());
    const placeholders = (text: string) => (text.match(/\{\w+\}/g) ?? []).sort();
    for (const key of Object.keys(en) as (keyof typeof en)[]) expect(placeholders(CATALOGUES["zh-CN"][key]), key).to.deep.equal(placeholders(en[key]));
    expect(translate("en", "duration.day", { count: 7 })).to.equal("7 days");
  });

  it("fills in placeholders", function () {
    expect(translate("zh-CN", "checkout.title", { merchant: "茶馆" })).to.equal("向 茶馆 付款");
    expect(translate("en", "pay.sign", { amount: "¥1.00" })).to.equal("Sign and pay ¥1.00");
  });
});

describe("console: amounts typed in yuan, and CSV fields", function () {
  it("reads yuan as fen by string arithmetic, refusing more decimals than the currency has", function () {
    expect(parseMajorUnits("12.34", 2)).to.equal(1234n);
    expect(parseMajorUnits("12.3", 2)).to.equal(1230n);
    expect(parseMajorUnits("1,000", 2)).to.equal(100000n);
    expect(parseMajorUnits("0.01", 2)).to.equal(1n);
    expect(parseMajorUnits("792281625142643375935439503.35", 2)).to.equal((1n << 96n) - 1n);
    for (const bad of ["0", "0.00", "1.234", "-1", "1e3", "", "abc", "1.2.3"]) expect(parseMajorUnits(bad, 2), bad).to.equal(undefined);
    expect(decimalsOf("CNY")).to.equal(2);
  });

  it("quotes CSV fields that need it and defuses spreadsheet formulas", function () {
    expect(toCsv(["a", "b"], [["1", 'say "hi", then go']])).to.equal('a,b\r\n1,"say ""hi"", then go"\r\n');
    expect(csvField("=SUM(A1)")).to.equal("'=SUM(A1)");
    expect(csvField("-5")).to.equal("'-5");
    expect(csvField("250.00")).to.equal("250.00");
  });
});

describe("console: the overview's daily figures", function () {
  const p = (createdAt: string, amount: string, status = "held", refundedAmount = "0") => ({ status, amount, feeBps: 100, refundedAmount, createdAt });

  it("sums paid payments per UTC day in bigint, fees on what is left after refunds, unpaid ones left out", function () {
    const days = dailyFigures(
      [p("2026-12-04T23:59:59.999Z", "10000"), p("2026-12-05T00:00:00.000Z", "25000", "held", "1234"), p("2026-12-05T01:00:00.000Z", "99999", "expired"), p("2026-12-05T02:00:00.000Z", ((1n << 96n) - 1n).toString(), "released")],
      "2026-12-03",
      "2026-12-05",
    );
    expect(days.map((d) => [d.day, d.count, d.volume, d.fees, d.refunds])).to.deep.equal([
      ["2026-12-03", 0, 0n, 0n, 0n],
      ["2026-12-04", 1, 10000n, 100n, 0n],
      ["2026-12-05", 2, 25000n + (1n << 96n) - 1n, 237n + ((1n << 96n) - 1n) / 100n, 1234n],
    ]);
    expect(fractionOf(5n, 10n)).to.equal(0.5);
    expect(fractionOf(0n, 0n)).to.equal(0);
  });
});
