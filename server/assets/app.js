// Sổ Tay web app: progressive enhancement only; every page works without this file.
// Table headers of the records list sort the rows shown, in the browser.
"use strict";
document.querySelectorAll("table.records").forEach((table) => {
  const body = table.tBodies[0];
  table.querySelectorAll("thead th").forEach((th, column) => {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = th.textContent;
    th.textContent = "";
    th.classList.add("sortable");
    th.appendChild(button);
    let ascending = true;
    button.addEventListener("click", () => {
      const rows = Array.from(body.rows);
      const key = (row) => row.cells[column].textContent.trim();
      rows.sort((a, b) => {
        const x = key(a), y = key(b);
        const nx = Number(x), ny = Number(y);
        const order = x !== "" && y !== "" && !isNaN(nx) && !isNaN(ny) ? nx - ny : x.localeCompare(y, document.documentElement.lang);
        return ascending ? order : -order;
      });
      rows.forEach((row) => body.appendChild(row));
      table.querySelectorAll("thead th").forEach((other) => other.removeAttribute("aria-sort"));
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      ascending = !ascending;
    });
  });
});
