#!/usr/bin/env node
// A committed entry point, so npm can link it before dist/ is built.
import "../dist/main.js";
