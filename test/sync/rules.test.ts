// The rule scenarios (R1–R24) on Radicale, one fresh server per test (rules.scenarios.ts).
import { defineRuleScenarios } from './rules.scenarios.js';

defineRuleScenarios();
