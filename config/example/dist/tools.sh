# tools for the demo
echo hi
