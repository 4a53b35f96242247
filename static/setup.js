// Saving a card for automatic payments: Stripe's Payment Element, confirmed with
// stripe.confirmSetup. Stripe redirects to the return URL once the card is saved (and
// after 3-D Secure); the server then asks Stripe itself which card was saved. Only
// immediate errors come back here.
(function () {
  "use strict";
  var root = document.getElementById("stripe-setup");
  if (!root || typeof window.Stripe !== "function") {
    return;
  }
  var data = root.dataset;
  var form = document.getElementById("setup-form");
  var message = document.getElementById("setup-message");
  var submit = document.getElementById("setup-submit");
  var stripe = window.Stripe(data.publishableKey);
  var elements = stripe.elements({ clientSecret: data.clientSecret, locale: data.locale });
  elements.create("payment").mount("#setup-element");
  form.hidden = false;

  function show(text) {
    message.textContent = text;
    message.hidden = false;
    message.focus();
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    submit.disabled = true;
    message.hidden = true;
    stripe
      .confirmSetup({ elements: elements, confirmParams: { return_url: data.returnUrl } })
      .then(function (result) {
        if (result && result.error) {
          show(result.error.message || data.failed);
        }
      })
      .catch(function () {
        show(data.unavailable);
      })
      .finally(function () {
        submit.disabled = false;
      });
  });
})();
